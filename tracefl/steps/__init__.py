"""The workflow's steps, one function each (download, partition, train, provenance,
FedDebug, report): what a Snakemake rule or a CLI verb runs, testable without either."""
