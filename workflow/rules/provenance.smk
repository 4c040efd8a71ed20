# Neuron provenance over every round of a run, and the FedDebug baseline.


rule provenance:
    """Trace the selected test inputs of every round to the responsible client."""
    message:
        "Tracing every round of run {wildcards.run} to its responsible clients"
    input:
        job=lambda wc: job_file(wc.run),
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        rounds="results/runs/{run}/rounds.csv",
        models=lambda wc: ancient(model_files(wc.run)),
    output:
        "results/runs/{run}/provenance.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/provenance/{run}.log",
    benchmark:
        "results/benchmarks/provenance/{run}.tsv"
    # One thread: `--cores N` runs N of them (or one beside a training job); one two-thread
    # job did only 1.5-1.7x a one-thread job's work per second (README). SLURM: set-threads.
    threads: 1
    priority: lambda wc: reader_priority(wc.run)
    shell:
        "python -m tracefl provenance --job {input.job:q} --threads {threads} --data-dir {input.data:q} "
        "--run-dir results/runs/{wildcards.run} --out {output:q} > {log:q} 2>&1"


rule contributions:
    """Each client's contribution to four test inputs of two labels in the last round (Figure 1)."""
    message:
        "Tracing Figure 1's inputs of run {wildcards.run}"
    input:
        job=lambda wc: job_file(wc.run),
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        rounds="results/runs/{run}/rounds.csv",
        models=lambda wc: ancient(model_files(wc.run)),
    output:
        contributions="results/runs/{run}/contributions.csv",
        labels="results/runs/{run}/client_labels.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/contributions/{run}.log",
    benchmark:
        "results/benchmarks/contributions/{run}.tsv"
    threads: 1
    priority: lambda wc: reader_priority(wc.run)
    shell:
        "python -m tracefl contributions --job {input.job:q} --threads {threads} --data-dir {input.data:q} "
        "--run-dir results/runs/{wildcards.run} --out {output.contributions:q} --labels-out {output.labels:q} "
        "> {log:q} 2>&1"


rule feddebug:
    """The FedDebug baseline (Table I, Figure 6) on every round of a faulty-client run."""
    message:
        "FedDebug baseline on run {wildcards.run}"
    input:
        job=lambda wc: ancient(job_file(wc.run)),
        rounds="results/runs/{run}/rounds.csv",
        models=lambda wc: ancient(model_files(wc.run)),
    output:
        "results/runs/{run}/feddebug.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/feddebug/{run}.log",
    benchmark:
        "results/benchmarks/feddebug/{run}.tsv"
    threads: 1
    priority: lambda wc: reader_priority(wc.run)
    shell:
        "python -m tracefl feddebug --job {input.job:q} --threads {threads} --run-dir results/runs/{wildcards.run} "
        "--out {output:q} > {log:q} 2>&1"


rule repair:
    """The audit of every round, then the last round re-aggregated by each way of excluding clients
    and by Flower's robust strategies (the repair item)."""
    message:
        "Auditing run {wildcards.run} and re-aggregating its last round"
    input:
        job=lambda wc: ancient(job_file(wc.run)),
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        rounds="results/runs/{run}/rounds.csv",
        models=lambda wc: ancient(model_files(wc.run)),
    output:
        "results/runs/{run}/repair.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/repair/{run}.log",
    benchmark:
        "results/benchmarks/repair/{run}.tsv"
    threads: 1
    priority: lambda wc: reader_priority(wc.run)
    shell:
        "python -m tracefl repair --job {input.job:q} --threads {threads} --data-dir {input.data:q} "
        "--run-dir results/runs/{wildcards.run} --out {output:q} > {log:q} 2>&1"
