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


FIGURES, TABLES = built_items()


rule all:
    """Every figure and table the selected preset defines."""
    input:
        expand("results/{fig}.{ext}", fig=FIGURES, ext=["pdf", "png", "csv"]),
        expand("results/{table}.{ext}", table=TABLES, ext=["csv", "md", "tex"]),
    default_target: True
