"""Every face-off and swap run pasted back into whole frames of its source's held-out segment
(`faceoff apply`), scored against the full-frame truth with its two references."""


rule apply:
    input:
        apply_inputs,
    output:
        metrics=f"{OUT}/evaluate/{{family}}/{{run}}/apply_metrics.json",
        video=report(
            f"{OUT}/evaluate/{{family}}/{{run}}/apply.mp4",
            caption="../report/captions/apply.rst",
            category=report_study,
            subcategory=report_variant,
            labels={"run": "{run}", "output": "applied to whole frames"},
        ),
        side_by_side=report(
            f"{OUT}/evaluate/{{family}}/{{run}}/apply_side_by_side.mp4",
            caption="../report/captions/apply_side_by_side.rst",
            category=report_study,
            subcategory=report_variant,
            labels={"run": "{run}", "output": "applied, beside the original"},
        ),
    log:
        f"{LOGS}/apply/{{family}}/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        faceoff=FACEOFF,
        settings=settings_of("apply"),
        code=code_of("apply"),
    conda:
        ENV
    shell:
        "{params.faceoff} apply-eval --run {wildcards.family}/{wildcards.run} --threads {threads} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"
