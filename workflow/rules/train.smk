# Each run's job file, and federated training in a Flower simulation.


localrules:
    job_file,


rule job_file:
    """What every job of a run reads: its settings (with the dataset's description) and the
    preset's provenance and simulation settings. Rewritten when they change."""
    message:
        "Writing the job file of run {wildcards.run}"
    output:
        "results/runs/{run}/job.json",
    log:
        "results/logs/job/{run}.log",
    priority: lambda wc: train_priority(wc.run)
    params:
        job=lambda wc: job_json(wc.run),
    run:
        write_job_file(params.job, output[0], log[0])


rule train_fl:
    """Train one run; per-round checkpoints live under rounds/ (not an output), so a killed
    job resumes from its last complete round when the rule runs again. The job file is
    `ancient`: a change of provenance or simulation settings does not retrain (a change of
    run settings is a new run id)."""
    message:
        "Training run {wildcards.run} (Flower)"
    input:
        job=lambda wc: ancient(job_file(wc.run)),
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        partition=lambda wc: partition_path(wc.run),
        models=lambda wc: ancient(model_files(wc.run)),
    output:
        "results/runs/{run}/rounds.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/train/{run}.log",
    benchmark:
        "results/benchmarks/train/{run}.tsv"
    threads: train_threads()
    priority: lambda wc: train_priority(wc.run)
    resources:
        gpu=0,
    shell:
        "python -m tracefl train --job {input.job:q} --cpus {threads} --data-dir {input.data:q} "
        "--partition {input.partition:q} --run-dir results/runs/{wildcards.run} > {log:q} 2>&1"
