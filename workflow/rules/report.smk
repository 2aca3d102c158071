"""The HTML report gathering every family's tables, figures and videos."""


localrules:
    table,
    figure,
    report,


def report_inputs(wildcards):
    files = []
    for family in config["families"]:
        files += [str(p) for p in LAYOUT.tables(family)] + [str(p) for p in LAYOUT.figures(family)]
        runs = family_runs(family)
        files += [f"{OUT}/evaluate/{r.family}/{r.id}/faceoff.mp4" for r in runs]
    return files


rule report:
    input:
        report_inputs,
    output:
        LAYOUT.report,
    log:
        f"{LOGS}/report.log",
    conda:
        ENV
    shell:
        "{FACEOFF} report > {log} 2>&1"
