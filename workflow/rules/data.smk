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
        params:
            dataset=_name,
        conda:
            ENV
        shell:
            "{FACEOFF} synth --dataset {params.dataset} --out {output} > {log} 2>&1"


def prepare_input(wildcards):
    """The item's raw video (or frame folder); for synthetic data, the rendered folder."""
    ds = config["datasets"][wildcards.dataset]
    if ds.get("synthetic"):
        return ds["source"]
    source = Path(ds["source"])
    if (source / wildcards.item).is_dir():
        return str(source / wildcards.item)
    found = sorted(source.glob(f"{wildcards.item}.*"))
    return [str(p) for p in found[:1]]


rule prepare:
    """Decode, detect, landmark, crop, mask and split one person (one job per video)."""
    input:
        prepare_input,
    output:
        directory(f"{OUT}/prepared/{{dataset}}/{{item}}"),
    log:
        f"{LOGS}/prepare/{{dataset}}/{{item}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    shell:
        "{FACEOFF} prepare --dataset {wildcards.dataset} --item {wildcards.item} --out {output} > {log} 2>&1"
