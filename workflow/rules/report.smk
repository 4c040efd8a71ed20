# Figures and tables of the paper: thin rules over `python -m tracefl report`.
# Names, outputs, the runs each item reads and captions come from tracefl/config/items.py.

localrules:
    figure,
    table,


rule figure:
    """A figure of the paper (PDF, PNG, and the numbers behind it as CSV)."""
    message:
        "Drawing {wildcards.fig}: {output}"
    input:
        unpack(lambda wc: item_inputs(wc.fig)),
    output:
        pdf="results/{fig}.pdf",
        # The PNG goes in the report: a browser shows it in the page (a PDF is a blank pane).
        png=report(
            "results/{fig}.png",
            caption="../report/item.rst",
            category="Figures",
            labels=lambda wc: {"item": report_label(wc.fig)},
        ),
        csv="results/{fig}.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/report/{fig}.log",
    params:
        caption=lambda wc: rst_text(items.get_item(wc.fig).caption),
        preset=PRESET.name,
    wildcard_constraints:
        fig=items.wildcard_pattern("figure"),
    shell:
        "python -m tracefl report --item {wildcards.fig} --jobs {input.jobs:q} --runs-dir results/runs "
        "--out-prefix results/{wildcards.fig} > {log:q} 2>&1"


rule table:
    """A table of the paper (CSV, Markdown, LaTeX)."""
    message:
        "Writing {wildcards.table}: {output}"
    input:
        unpack(lambda wc: item_inputs(wc.table)),
    output:
        csv="results/{table}.csv",
        md="results/{table}.md",
        tex="results/{table}.tex",
        # An HTML rendering of the CSV, so the report shows the table in the page.
        html=report(
            "results/{table}.html",
            caption="../report/item.rst",
            category="Tables",
            labels=lambda wc: {"item": report_label(wc.table)},
        ),
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/report/{table}.log",
    params:
        caption=lambda wc: rst_text(items.get_item(wc.table).caption),
        title=lambda wc: items.get_item(wc.table).title,
        preset=PRESET.name,
    wildcard_constraints:
        table=items.wildcard_pattern("table"),
    shell:
        "python -m tracefl report --item {wildcards.table} --jobs {input.jobs:q} --runs-dir results/runs "
        "--out-prefix results/{wildcards.table} > {log:q} 2>&1 && "
        "python -m tracefl.report.table_html {output.csv:q} {output.html:q} {params.title:q} >> {log:q} 2>&1"
