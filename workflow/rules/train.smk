"""One training job per run (family x pair x variant x seed)."""


rule train:
    input:
        train_input,
    output:
        model=f"{OUT}/train/{{family}}/{{run}}/model.pt",
        losses=f"{OUT}/train/{{family}}/{{run}}/losses.csv",
        info=f"{OUT}/train/{{family}}/{{run}}/train.json",
        samples=report(
            f"{OUT}/train/{{family}}/{{run}}/samples.png",
            caption="../report/captions/train_samples.rst",
            category=report_study,
            subcategory=report_variant,
            labels={"run": "{run}", "output": "training samples"},
        ),
        live=f"{OUT}/train/{{family}}/{{run}}/dvclive/metrics.json",
        live_plots=directory(f"{OUT}/train/{{family}}/{{run}}/dvclive/plots"),
    log:
        f"{LOGS}/train/{{family}}/{{run}}.log",
    params:
        faceoff=FACEOFF,
        settings=settings_of("train"),
        code=code_of("train"),
    priority: TRAINING_FIRST
    threads: 1
    resources:
        mem_mb=train_mem,
        runtime=train_runtime,
    conda:
        ENV
    shell:
        "{params.faceoff} train --run {wildcards.family}/{wildcards.run} --threads {threads} "
        "--out $(dirname {output.model}) > {log} 2>&1"


rule train_classifier:
    """The family's expression classifier (trained on every item's train split)."""
    input:
        classifier_input,
    output:
        model=f"{OUT}/train/{{family}}/classifier/model.pt",
        losses=f"{OUT}/train/{{family}}/classifier/losses.csv",
        info=f"{OUT}/train/{{family}}/classifier/train.json",
        samples=report(
            f"{OUT}/train/{{family}}/classifier/samples.png",
            caption="../report/captions/classifier_samples.rst",
            category=report_study,
            subcategory="classifier",
            labels={"run": "classifier", "output": "training samples"},
        ),
        live=f"{OUT}/train/{{family}}/classifier/dvclive/metrics.json",
        live_plots=directory(f"{OUT}/train/{{family}}/classifier/dvclive/plots"),
    log:
        f"{LOGS}/train/{{family}}/classifier.log",
    params:
        faceoff=FACEOFF,
        settings=settings_of("train_classifier"),
        code=code_of("train_classifier"),
    priority: TRAINING_FIRST
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    shell:
        "{params.faceoff} train --classifier {wildcards.family} --threads {threads} "
        "--out $(dirname {output.model}) > {log} 2>&1"
