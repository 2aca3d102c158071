"""The HTML report gathering every family's tables, figures and videos."""


localrules:
    report,


rule report:
    input:
        report_inputs,
    output:
        LAYOUT.report,
    log:
        f"{LOGS}/report.log",
    params:
        faceoff=FACEOFF,
        settings=settings_of("report"),
        code=code_of("report"),
    conda:
        ENV
    shell:
        "{params.faceoff} report > {log} 2>&1"
