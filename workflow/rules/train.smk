"""One training job per run (family x pair x variant x seed)."""


def train_input(wildcards):
    run = run_of(wildcards)
    return [prepared_dir(run.dataset, item) for item in run.items]


def train_runtime(wildcards, attempt):
    """Minutes: scales with steps and image area (calibrated on one GPU), doubled on retry."""
    s = run_of(wildcards).settings
    steps = s["steps"] + s["steps_decay"]
    return int(10 + steps * (s["crop_size"] / 256) ** 2 * 0.25 / 60 * attempt)


rule train:
    input:
        train_input,
    output:
        model=f"{OUT}/train/{{family}}/{{run}}/model.pt",
        losses=f"{OUT}/train/{{family}}/{{run}}/losses.csv",
        info=f"{OUT}/train/{{family}}/{{run}}/train.json",
        samples=f"{OUT}/train/{{family}}/{{run}}/samples.png",
    log:
        f"{LOGS}/train/{{family}}/{{run}}.log",
    params:
        # A run's identity is its resolved settings: editing one variant reruns only its runs.
        settings=lambda wc: run_of(wc).settings_hash,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=train_runtime,
    conda:
        ENV
    shell:
        "{FACEOFF} train --run {wildcards.family}/{wildcards.run} --threads {threads} "
        "--out $(dirname {output.model}) > {log} 2>&1"
