"""The workflow's steps over the libraries, one function each (partition, provenance, FedDebug,
report, status; download is ``tracefl.data.sources``, training ``tracefl.steps.train``):
what a Snakemake rule or a CLI verb runs, testable without either."""
