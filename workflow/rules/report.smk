# Figures and tables of the paper: thin rules over `python -m tracefl report`.

localrules:
    figure,
    table,


rule figure:
    """Figure 2-6 of the paper (PDF, PNG, and the numbers behind it as CSV)."""
    input:
        unpack(lambda wc: item_inputs(wc.fig, FIGURE_RUNS[wc.fig])),
    output:
        pdf=report(
            "results/{fig}.pdf",
            caption="../report/figure.rst",
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
        specs=lambda wc: item_specs_json(FIGURE_RUNS[wc.fig]),
    wildcard_constraints:
        fig="figure[2-6]",
    shell:
        "python -m tracefl report --item {wildcards.fig} --specs {params.specs:q} --runs-dir results/runs "
        "--out-prefix results/{wildcards.fig} > {log} 2>&1"


rule table:
    """Table I-III of the paper and the client-weighting ablation (CSV, Markdown, LaTeX)."""
    input:
        unpack(lambda wc: item_inputs(wc.table, TABLE_RUNS[wc.table])),
    output:
        csv=report(
            "results/{table}.csv",
            caption="../report/table.rst",
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
        specs=lambda wc: item_specs_json(TABLE_RUNS[wc.table]),
    wildcard_constraints:
        table="table[1-3]|ablation_weighting",
    shell:
        "python -m tracefl report --item {wildcards.table} --specs {params.specs:q} --runs-dir results/runs "
        "--out-prefix results/{wildcards.table} > {log} 2>&1"
