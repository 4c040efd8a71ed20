# Datasets and partitions.


localrules:
    download_dataset,


rule download_dataset:
    """Fetch one dataset (hub, MedMNIST, bundled pip data or a local file) into the store format.

    A localrule: login nodes have internet, compute nodes often do not. A `local_datasets`
    entry's file is an input, so editing the file rebuilds the stored copy."""
    message:
        "Downloading dataset {wildcards.dataset}"
    input:
        lambda wc: local_dataset_file(wc.dataset),
    output:
        directory(f"{DATA_DIR}/{{dataset}}"),
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/download/{dataset}.log",
    priority: lambda wc: upstream_priority(wc.dataset)
    params:
        # A local dataset's description travels with the job; a built-in one is known by name.
        dataset=lambda wc: (
            f"--dataset-spec {shlex.quote(json.dumps(dataset_spec(wc.dataset).to_dict(), sort_keys=True))}"
            if dataset_spec(wc.dataset).local_path
            else f"--dataset {wc.dataset}"
        ),
        source=lambda wc: (
            f"--source-path {shlex.quote(PRESET.dataset_sources[wc.dataset])}"
            if wc.dataset in PRESET.dataset_sources
            else ""
        ),
    shell:
        f"{ONLINE} python -m tracefl download {{params.dataset}} --out {{output:q}} {{params.source}} > {{log:q}} 2>&1"


rule partition:
    """Dirichlet non-IID split of the train set, then the per-client clean-up."""
    message:
        "Partitioning {wildcards.dataset} among clients ({output})"
    input:
        data=f"{DATA_DIR}/{{dataset}}",
        job=lambda wc: ancient(job_file(partition_run(wc.dataset, wc.partition))),
    output:
        "results/partitions/{dataset}/{partition}.json",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/partition/{dataset}/{partition}.log",
    priority: lambda wc: upstream_priority(wc.dataset, wc.partition)
    shell:
        "python -m tracefl partition --job {input.job:q} --data-dir {input.data:q} --out {output:q} > {log:q} 2>&1"
