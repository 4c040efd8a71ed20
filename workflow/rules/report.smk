# Figures and tables of the paper: thin rules over `python -m tracefl report`.
# Names, outputs, the runs each item reads and captions come from tracefl/config/items.py.

localrules:
    figure,
    table,


rule figure:
    """A figure of the paper (PDF, PNG, and the numbers behind it as CSV)."""
    input:
        unpack(lambda wc: item_inputs(wc.fig)),
    output:
        pdf=report(
            "results/{fig}.pdf",
            caption="../report/item.rst",
            category="Figures",
            labels={"item": "{fig}"},
        ),
        png="results/{fig}.png",
        csv="results/{fig}.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/report/{fig}.log",
    params:
        caption=lambda wc: items.get_item(wc.fig).caption,
        preset=PRESET.name,
    wildcard_constraints:
        fig=items.wildcard_pattern("figure"),
    shell:
        "python -m tracefl report --item {wildcards.fig} --jobs {input.jobs} --runs-dir results/runs "
        "--out-prefix results/{wildcards.fig} > {log} 2>&1"


rule table:
    """A table of the paper (CSV, Markdown, LaTeX)."""
    input:
        unpack(lambda wc: item_inputs(wc.table)),
    output:
        csv=report(
            "results/{table}.csv",
            caption="../report/item.rst",
            category="Tables",
            labels={"item": "{table}"},
        ),
        md="results/{table}.md",
        tex="results/{table}.tex",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/report/{table}.log",
    params:
        caption=lambda wc: items.get_item(wc.table).caption,
        preset=PRESET.name,
    wildcard_constraints:
        table=items.wildcard_pattern("table"),
    shell:
        "python -m tracefl report --item {wildcards.table} --jobs {input.jobs} --runs-dir results/runs "
        "--out-prefix results/{wildcards.table} > {log} 2>&1"
