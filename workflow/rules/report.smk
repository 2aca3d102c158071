"""The HTML report gathering every family's tables, figures and videos."""


# The one local rule (tests/test_cli.py keeps it so): the report links finished files into HTML
# in seconds; every rule that decodes, trains, translates or plots translations is a cluster job.
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
