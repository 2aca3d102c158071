"""Per-run evaluation, the copy-input baseline, and the family table and figures."""


def test_items(wildcards):
    run = run_of(wildcards)
    return [prepared_dir(run.dataset, item) for item in run.items]


def copy_items(wildcards):
    from faceoff.config import split_pair

    dataset = config["families"][wildcards.family]["dataset"]
    return [prepared_dir(dataset, item) for item in split_pair(wildcards.pair)]


rule evaluate:
    input:
        data=test_items,
        model=f"{OUT}/train/{{family}}/{{run}}/model.pt",
    output:
        metrics=f"{OUT}/evaluate/{{family}}/{{run}}/metrics.json",
        video=f"{OUT}/evaluate/{{family}}/{{run}}/faceoff.mp4",
        samples=f"{OUT}/evaluate/{{family}}/{{run}}/samples.png",
    log:
        f"{LOGS}/evaluate/{{family}}/{{run}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    shell:
        "{FACEOFF} evaluate --run {wildcards.family}/{wildcards.run} --threads {threads} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


rule evaluate_copy:
    """The trivial baseline: the input frame itself as the translation."""
    input:
        copy_items,
    output:
        metrics=f"{OUT}/evaluate/{{family}}/{{pair}}-copy/metrics.json",
        video=f"{OUT}/evaluate/{{family}}/{{pair}}-copy/faceoff.mp4",
        samples=f"{OUT}/evaluate/{{family}}/{{pair}}-copy/samples.png",
    log:
        f"{LOGS}/evaluate/{{family}}/{{pair}}-copy.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    shell:
        "{FACEOFF} evaluate --copy {wildcards.family}/{wildcards.pair} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


def family_metrics(wildcards):
    runs = family_runs(wildcards.family)
    pairs = sorted({r.pair for r in runs})
    files = [f"{OUT}/evaluate/{r.family}/{r.id}/{name}" for r in runs for name in ("metrics.json",)]
    files += [f"{OUT}/train/{r.family}/{r.id}/train.json" for r in runs]
    files += [f"{OUT}/evaluate/{wildcards.family}/{p}-copy/metrics.json" for p in pairs]
    return files


rule table:
    input:
        family_metrics,
    output:
        csv=f"{OUT}/tables/{{family}}.csv",
        md=f"{OUT}/tables/{{family}}.md",
        tex=f"{OUT}/tables/{{family}}.tex",
    log:
        f"{LOGS}/table/{{family}}.log",
    conda:
        ENV
    shell:
        "{FACEOFF} table --family {wildcards.family} > {log} 2>&1"


def family_figure_inputs(wildcards):
    runs = family_runs(wildcards.family)
    return [f"{OUT}/train/{r.family}/{r.id}/losses.csv" for r in runs] + [
        f"{OUT}/evaluate/{r.family}/{r.id}/metrics.json" for r in runs
    ]


rule figure:
    input:
        family_figure_inputs,
    output:
        losses=f"{OUT}/figures/{{family}}/losses.png",
        comparison=f"{OUT}/figures/{{family}}/comparison.png",
    log:
        f"{LOGS}/figure/{{family}}.log",
    conda:
        ENV
    shell:
        "{FACEOFF} figure --family {wildcards.family} > {log} 2>&1"
