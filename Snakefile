"""faceoff: raw videos -> prepared faces -> GAN runs -> metrics, tables, figures, report.

    snakemake --cores 2                                   # paper scale (needs the datasets)
    snakemake --cores 2 --configfile config/demo.yaml     # embedded synthetic demo
    snakemake --profile slurm                             # on a SLURM cluster

Rules are thin: each calls one `faceoff` subcommand; the logic lives in src/faceoff.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        [str(p) for p in LAYOUT.claims_tables()],
        str(LAYOUT.claims_figure),
        LAYOUT.report,
    default_target: True
