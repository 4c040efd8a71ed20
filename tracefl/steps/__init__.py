"""The workflow's steps over the libraries, one function each (download, partition, train,
provenance, FedDebug, report, status): what a Snakemake rule or a CLI verb runs, testable
without either."""
