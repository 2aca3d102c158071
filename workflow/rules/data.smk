"""Raw data (synthetic when the dataset says so) and per-item preprocessing."""


for _name, _ds in config["datasets"].items():
    if not _ds.get("synthetic"):
        continue

    rule:
        name:
            f"synth_{_name}"
        output:
            directory(_ds["source"]),
        log:
            f"{LOGS}/synth/{_name}.log",
        priority: TRAINING_FIRST
        params:
            faceoff=FACEOFF,
            dataset=_name,
            settings=settings_of("synth", dataset=_name),
            code=code_of("synth"),
        conda:
            ENV
        shell:
            "{params.faceoff} synth --dataset {params.dataset} --out {output} > {log} 2>&1"


rule prepare:
    """Decode, detect, landmark, crop, mask and split one person (one job per video)."""
    input:
        prepare_input,
    output:
        directory(f"{OUT}/prepared/{{dataset}}/{{item}}"),
    log:
        f"{LOGS}/prepare/{{dataset}}/{{item}}.log",
    priority: TRAINING_FIRST
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        faceoff=FACEOFF,
        settings=settings_of("prepare"),
        code=code_of("prepare"),
    conda:
        ENV
    shell:
        "{params.faceoff} prepare --dataset {wildcards.dataset} --item {wildcards.item} --out {output} > {log} 2>&1"


rule prepare_all:
    """Every item of every dataset in the parameters, used by a family or not
    (`snakemake prepare_all` checks a newly plugged-in dataset end to end)."""
    input:
        [prepared_dir(name, item) for name, ds in config["datasets"].items() for item in ds["items"]],
