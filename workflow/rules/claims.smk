"""The claims ledger: each study's conclusions tested on the per-sample files of the runs they name."""

from faceoff.report.studies import CLAIMS_STUDY  # the ledger's category in Snakemake's report


# tables/claims.* is the ledger's, never a family's table (the schema keeps `claims` from naming a family).
ruleorder: claims > table


rule claims:
    input:
        claims_inputs,
    output:
        csv=report(
            str(LAYOUT.claims_tables()[0]),
            caption="../report/captions/claims.rst",
            category=CLAIMS_STUDY,
            subcategory="tables",
            labels={"table": "claims"},
        ),
        md=str(LAYOUT.claims_tables()[1]),
        tex=str(LAYOUT.claims_tables()[2]),
        forest=report(
            str(LAYOUT.claims_figure),
            caption="../report/captions/claims_forest.rst",
            category=CLAIMS_STUDY,
            subcategory="figures",
            labels={"figure": "forest plot"},
        ),
    log:
        f"{LOGS}/claims.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        faceoff=FACEOFF,
        settings=settings_of("claims"),
        code=code_of("claims"),
    conda:
        ENV
    shell:
        "{params.faceoff} claims > {log} 2>&1"
