# Neuron provenance over every round of a run.


rule provenance:
    """Trace the selected test inputs of every round to the responsible client."""
    input:
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        rounds="results/runs/{run}/rounds.csv",
    output:
        "results/runs/{run}/provenance.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/provenance/{run}.log",
    params:
        spec=lambda wc: spec_json(wc.run),
        settings=json.dumps(PRESET.provenance.to_dict(), sort_keys=True),
    threads: 2
    shell:
        "python -m tracefl provenance --spec {params.spec:q} --settings {params.settings:q} "
        "--data-dir {input.data} --run-dir results/runs/{wildcards.run} --out {output} > {log} 2>&1"


rule feddebug:
    """The FedDebug baseline (Table I, Figure 6) on every round of a faulty-client run."""
    input:
        rounds="results/runs/{run}/rounds.csv",
    output:
        "results/runs/{run}/feddebug.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/feddebug/{run}.log",
    params:
        spec=lambda wc: spec_json(wc.run),
    threads: 2
    shell:
        "python -m tracefl feddebug --spec {params.spec:q} --run-dir results/runs/{wildcards.run} "
        "--out {output} > {log} 2>&1"
