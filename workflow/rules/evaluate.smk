"""Per-run evaluation, the copy-input baseline, and the family table and figures."""


rule evaluate:
    input:
        data=test_items,
        model=f"{OUT}/train/{{family}}/{{run}}/model.pt",
    output:
        metrics=f"{OUT}/evaluate/{{family}}/{{run}}/metrics.json",
        per_sample=f"{OUT}/evaluate/{{family}}/{{run}}/per_sample.csv",
        video=report(
            f"{OUT}/evaluate/{{family}}/{{run}}/faceoff.mp4",
            caption="../report/captions/run_video.rst",
            category=report_study,
            subcategory=report_variant,
            labels={"run": "{run}", "output": "test video"},
        ),
        samples=report(
            f"{OUT}/evaluate/{{family}}/{{run}}/samples.png",
            caption="../report/captions/run_samples.rst",
            category=report_study,
            subcategory=report_variant,
            labels={"run": "{run}", "output": "test samples"},
        ),
    log:
        f"{LOGS}/evaluate/{{family}}/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        faceoff=FACEOFF,
        settings=settings_of("evaluate"),
        code=code_of("evaluate"),
    conda:
        ENV
    shell:
        "{params.faceoff} evaluate --run {wildcards.family}/{wildcards.run} --threads {threads} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


rule evaluate_copy:
    """The trivial baseline: the input frame itself as the translation."""
    input:
        copy_items,
    output:
        metrics=f"{OUT}/evaluate/{{family}}/{{pair}}-copy/metrics.json",
        per_sample=f"{OUT}/evaluate/{{family}}/{{pair}}-copy/per_sample.csv",
        video=report(
            f"{OUT}/evaluate/{{family}}/{{pair}}-copy/faceoff.mp4",
            caption="../report/captions/copy_video.rst",
            category=report_study,
            subcategory="copy input",
            labels={"run": "{pair}-copy", "output": "test video"},
        ),
        samples=report(
            f"{OUT}/evaluate/{{family}}/{{pair}}-copy/samples.png",
            caption="../report/captions/copy_samples.rst",
            category=report_study,
            subcategory="copy input",
            labels={"run": "{pair}-copy", "output": "test samples"},
        ),
    log:
        f"{LOGS}/evaluate/{{family}}/{{pair}}-copy.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        faceoff=FACEOFF,
        settings=settings_of("evaluate_copy"),
        code=code_of("evaluate_copy"),
    conda:
        ENV
    shell:
        "{params.faceoff} evaluate --copy {wildcards.family}/{wildcards.pair} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


rule table:
    input:
        family_metrics,
    output:
        csv=report(
            f"{OUT}/tables/{{family}}.csv",
            caption="../report/captions/table.rst",
            category=report_study,
            subcategory="tables",
            labels={"table": "{family}"},
        ),
        md=f"{OUT}/tables/{{family}}.md",
        tex=f"{OUT}/tables/{{family}}.tex",
        views=report(
            directory(f"{OUT}/tables/{{family}}"),
            caption="../report/captions/table_views.rst",
            category=report_study,
            subcategory="tables",
            labels={"table": "{family}/{name}"},
            patterns=["{name}.csv"],
        ),
    log:
        f"{LOGS}/table/{{family}}.log",
    params:
        faceoff=FACEOFF,
        settings=settings_of("table"),
        code=code_of("table"),
    conda:
        ENV
    shell:
        "{params.faceoff} table --family {wildcards.family} > {log} 2>&1"


rule figure:
    input:
        family_figure_inputs,
    output:
        report(
            directory(f"{OUT}/figures/{{family}}"),
            caption="../report/captions/figures.rst",
            category=report_study,
            subcategory="figures",
            labels={"figure": "{name}"},
            patterns=["{name}.png"],
        ),
    log:
        f"{LOGS}/figure/{{family}}.log",
    params:
        faceoff=FACEOFF,
        settings=settings_of("figure"),
        code=code_of("figure"),
    conda:
        ENV
    shell:
        "{params.faceoff} figure --family {wildcards.family} > {log} 2>&1"
