# Figures and tables of the paper.


localrules:
    figure2,


rule figure2:
    """Figure 2: localization accuracy and global model accuracy per round, with chance levels."""
    input:
        rounds=item_files("figure2", "rounds.csv"),
        provenance=item_files("figure2", "provenance.csv"),
    output:
        pdf=report("results/figure2.pdf", caption="../report/figure2.rst", category="Figures"),
        png="results/figure2.png",
        csv="results/figure2.csv",
    conda:
        "../../envs/tracefl.yaml"
    log:
        "results/logs/report/figure2.log",
    params:
        specs=item_specs_json("figure2"),
    shell:
        "python -m tracefl figure2 --specs {params.specs:q} --runs-dir results/runs "
        "--pdf {output.pdf} --png {output.png} --csv {output.csv} > {log} 2>&1"
