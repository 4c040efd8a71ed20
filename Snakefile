# TraceFL reproduction workflow: download -> partition -> train (Flower) -> provenance -> figures/tables.
# Every rule's shell calls the package CLI (`python -m tracefl <verb>`), so each step also runs by hand.
# The paper items (targets, wildcards, captions) come from tracefl/report/catalog.py.

from snakemake.utils import min_version

min_version("8.0")


configfile: "config/experiments.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every figure and table the selected preset defines."""
    input:
        [path for item in PRESET.built_items() for path in item.outputs()],
    default_target: True
