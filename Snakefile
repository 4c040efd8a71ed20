# TraceFL reproduction workflow: download -> partition -> train (Flower) -> provenance -> figures/tables.
# Every rule's shell calls the package CLI (`python -m tracefl <verb>`), so each step also runs by hand.
# The paper items (targets, wildcards, captions) come from tracefl/config/items.py.

import shlex

from snakemake.shell import shell
from snakemake.utils import min_version

min_version("8.0")



configfile: "config/experiments.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Jobs run `python -m tracefl`: with this folder on their PYTHONPATH they run this checkout's
# code, also in a `--sdm conda` environment that has the dependencies but not the package.
# They read model files from the prefetched cache with the hub offline (rules/prefetch.smk).
# (Snakemake formats the prefix too: its braces are doubled once more.)
shell.prefix(
    f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; {offline_job_environment()}"
)


include: "workflow/rules/prefetch.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/disk.smk"


rule all:
    """Every figure and table the selected preset defines."""
    input:
        [path for item in PRESET.built_items() for path in item.outputs()],
        client_model_drops(),
    default_target: True
