# TraceFL reproduction workflow: download -> partition -> train (Flower) -> provenance -> figures/tables.
# Every rule's shell calls the package CLI (`python -m tracefl <verb>`), so each step also runs by hand.

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from tracefl.config import ConfigError, config_schema_error

min_version("8.0")


configfile: "config/experiments.yaml"


# The config's shape first, before any job: snakemake's validate, and on failure one line
# naming the key and what is allowed. Checks across keys (clients per round vs clients,
# faulty ids, labels of the dataset) follow in common.smk.
CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"
try:
    validate(config, CONFIG_SCHEMA, set_default=False)
except WorkflowError as error:
    raise ConfigError(config_schema_error(config, f"{workflow.basedir}/{CONFIG_SCHEMA}") or str(error)) from None


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
