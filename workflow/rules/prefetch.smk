# Everything a preset fetches from the network, in one target for the login node:
#   snakemake prefetch      (then every other job runs with the hub offline, from the cache)
# Datasets come from rule download_dataset (rules/data.smk), model files from prefetch_model.


localrules:
    prefetch,
    prefetch_model,


rule prefetch_model:
    """Build a model once with the network on, so its weights, config and tokenizer are cached
    under cache_dir (TORCH_HOME, HF_HOME) for the jobs that run offline."""
    message:
        "Caching model files of {wildcards.model_key}"
    output:
        f"{CACHE_DIR}/models/{{model_key}}.json",
    log:
        "results/logs/prefetch/{model_key}.log",
    conda:
        "../../envs/tracefl.yaml"
    params:
        model=lambda wc: shlex.quote(PREFETCH[wc.model_key][0]),
        pretrained=lambda wc: "--pretrained" if PREFETCH[wc.model_key][1] else "",
    shell:
        f"{ONLINE} python -m tracefl prefetch --model {{params.model}} {{params.pretrained}} --out {{output:q}} > {{log:q}} 2>&1"


rule prefetch:
    """Every dataset and model file the selected preset needs."""
    message:
        "Every dataset and model file of the preset is cached"
    input:
        sorted({f"{DATA_DIR}/{spec.dataset}" for spec in RUNS.values()}),
        sorted({path for run_id in RUNS for path in model_files(run_id)}),
