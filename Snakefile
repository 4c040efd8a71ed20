# TraceFL reproduction workflow: download -> partition -> train (Flower) -> provenance -> figures/tables.
# Every rule's shell calls the package CLI (`python -m tracefl <verb>`), so each step also runs by hand.

from snakemake.utils import min_version

min_version("8.0")


configfile: "config/experiments.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/figure2.pdf",
        "results/figure2.png",
    default_target: True
