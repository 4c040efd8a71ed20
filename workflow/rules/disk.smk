# With keep_client_models: false, `all` deletes each run's client models once every step that
# reads them has run (tracefl.steps.drop_models): ~90% of a run's bytes.


localrules:
    drop_client_models,


rule drop_client_models:
    """Delete a run's client models after its last reader (provenance, FedDebug, repair, Figure 1);
    its global models, rounds.csv, final model and tables stay. First among ready jobs: it frees disk."""
    message:
        "Deleting the client models of run {wildcards.run} (every step that reads them has run)"
    input:
        rounds="results/runs/{run}/rounds.csv",
        readers=lambda wc: run_item_files(wc.run),
    output:
        f"results/runs/{{run}}/{DROPPED_MARKER}",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/drop_client_models/{run}.log",
    priority: 10
    shell:
        "python -m tracefl drop-client-models --run-dir results/runs/{wildcards.run} --out {output:q} > {log:q} 2>&1"
