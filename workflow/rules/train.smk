# Federated training in a Flower simulation.


rule train_fl:
    """Train one run; per-round checkpoints live under rounds/ (not an output), so a killed
    job resumes from its last complete round when the rule runs again."""
    input:
        data=lambda wc: f"{DATA_DIR}/{run_spec(wc.run).dataset}",
        partition=lambda wc: partition_path(wc.run),
    output:
        "results/runs/{run}/rounds.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/train/{run}.log",
    params:
        spec=lambda wc: spec_json(wc.run),
        simulation=json.dumps(PRESET.simulation.to_dict(), sort_keys=True),
    threads: 2
    resources:
        gpu=0,
    shell:
        "python -m tracefl train --spec {params.spec:q} --simulation {params.simulation:q} --cpus {threads} "
        "--data-dir {input.data} --partition {input.partition} --run-dir results/runs/{wildcards.run} > {log} 2>&1"
