"""Parameters: merge order, schema errors that name key and file, the run registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from faceoff.config import (
    ConfigError,
    Layout,
    get_run,
    groundtruth_pairs,
    load_params,
    resolve_runs,
    split_pair,
)
from faceoff.config.resources import train_mem_mb, train_runtime_minutes
from faceoff.datasets.check import missing_sources
from faceoff.train import TrainSettings

from .conftest import REPO

PARAMS = REPO / "params.yaml"


def _override(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("extra", [[], ["config/demo.yaml"], ["config/smoke.yaml"]])
def test_shipped_configs_are_valid(extra: list[str]) -> None:
    params = load_params([PARAMS, *(REPO / e for e in extra)])
    assert resolve_runs(params)


def test_paper_faceoff_family_is_complete() -> None:
    params = load_params([PARAMS])
    keys = [r.key for r in resolve_runs(params, "faceoff")]
    variants = ["baseline", "wgan", "wgangp", "ssim", "mask_weight", "mask_out", "unet", "d5", "double_d"]
    sweep = ["ssim_w1e4", "ssim_w1e3", "ssim_w1e1"]
    pairs, seeds = ("A2B", "A2C", "A2D"), (0, 1, 2)  # 3 seeds of every variant: the claims' intervals
    assert keys == [f"faceoff/{p}-{v}-s{s}" for p in pairs for v in variants + sweep for s in seeds]
    settings = {r.variant: TrainSettings.from_dict(dict(r.settings)) for r in resolve_runs(params, "faceoff")}
    assert settings["wgan"].gan_mode == "wgan" and settings["wgan"].optimizer == "rmsprop"
    assert (settings["wgan"].lr, settings["wgan"].n_critic, settings["wgan"].clip_value) == (5e-5, 5, 0.01)
    assert settings["ssim"].lambda_ssim == 0.01 and settings["double_d"].n_layers_D == (3, 5)
    assert settings["unet"].netG == "unet_256" and settings["mask_out"].mask_input
    fam = params["families"]["faceoff"]
    assert [settings[v].lambda_ssim for v in fam["tables"]["ssim_w"]] == [1e-4, 1e-3, 1e-2, 1e-1]
    assert fam["loss_figure"] == ["baseline", "double_d", "unet"]
    run = get_run(params, "faceoff/A2C-baseline-s0")
    assert run.items == ("A", "C")
    assert run.settings["netG"] == "resnet_9blocks" and run.settings["crop_size"] == 256
    assert params["datasets"]["persons"]["prepare"]["split"] == {"train": 2000, "test": 200}


def test_override_merges_deeply(tmp_path: Path) -> None:
    params = load_params([PARAMS, _override(tmp_path, {"families": {"faceoff": {"train": {"ngf": 8}}}})])
    settings = resolve_runs(params)[0].settings
    assert settings["ngf"] == 8 and settings["ndf"] == 64  # sibling keys survive


def test_variant_overrides_train_settings(tmp_path: Path) -> None:
    data = {"families": {"faceoff": {"run": ["baseline", "d5"], "variants": {"d5": {"n_layers_D": [5]}}}}}
    params = load_params([PARAMS, _override(tmp_path, data)])
    by_variant = {r.variant: r for r in resolve_runs(params) if r.pair == "A2B"}
    assert by_variant["d5"].settings["n_layers_D"] == [5]
    assert by_variant["baseline"].settings["n_layers_D"] == [3]


def test_every_training_setting_can_be_set_in_params(tmp_path: Path) -> None:
    """The schema knows each TrainSettings field (speed switches included), with its default's type."""
    defaults = TrainSettings().to_dict()
    data = {"families": {"faceoff": {"run": ["all"], "seeds": [0], "variants": {"all": defaults}}}}
    params = load_params([PARAMS, _override(tmp_path, data)])
    (run,) = (r for r in resolve_runs(params) if r.pair == "A2B")
    assert TrainSettings.from_dict(dict(run.settings)) == TrainSettings()
    switched = {"deterministic": True, "cudnn_benchmark": False, "precision": "bf16", "compile": True}
    data["families"]["faceoff"]["variants"]["all"] = switched
    params = load_params([PARAMS, _override(tmp_path, data)])
    assert {k: resolve_runs(params)[0].settings[k] for k in switched} == switched


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"tables": {"sweep": ["baseline", "nope"]}}, "families.faceoff.tables.sweep"),
        ({"loss_figure": ["nope"]}, "families.faceoff.loss_figure"),
    ],
)
def test_tables_and_figures_name_defined_variants(tmp_path: Path, data: dict, where: str) -> None:
    bad = _override(tmp_path, {"families": {"faceoff": data}})
    with pytest.raises(ConfigError, match=f"{where}: variant 'nope' is not defined"):
        load_params([PARAMS, bad])


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"families": {"faceoff": {"train": {"lr": "fast"}}}})
    with pytest.raises(ConfigError) as err:
        load_params([PARAMS, bad])
    assert f"{bad}: families.faceoff.train.lr" in str(err.value)


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"families": {"faceoff": {"train": {"lamda_cycle": 5}}}})
    with pytest.raises(ConfigError) as err:
        load_params([PARAMS, bad])
    assert "families.faceoff.train.lamda_cycle" in str(err.value)
    assert "unknown key" in str(err.value) and str(bad) in str(err.value)


def test_unknown_dataset_and_pair_are_reported(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"families": {"faceoff": {"pairs": ["A2Z"]}}})
    with pytest.raises(ConfigError, match=r"families.faceoff.pairs: pair 'A2Z'"):
        load_params([PARAMS, bad])
    bad = _override(tmp_path, {"families": {"faceoff": {"dataset": "nope"}}})
    with pytest.raises(ConfigError, match=r"families.faceoff.dataset: unknown dataset 'nope'"):
        load_params([PARAMS, bad])


def test_run_of_undefined_variant_is_rejected(tmp_path: Path) -> None:
    bad = _override(tmp_path, {"families": {"faceoff": {"run": ["baseline", "ghost"]}}})
    with pytest.raises(ConfigError, match="variant 'ghost' is not defined"):
        load_params([PARAMS, bad])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params([tmp_path / "nope.yaml"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("families: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params([PARAMS, broken])


def test_the_c_parser_reads_every_configuration_as_the_pure_python_one_does(tmp_path: Path) -> None:
    """read_yaml uses libyaml's parser (PyYAML built with it, as the pinned wheel is): the same
    values on the project's parameter files and the schema, and an error that says where."""
    from faceoff.config.load import read_yaml

    assert yaml.CSafeLoader
    config = sorted((REPO / "config").glob("*.yaml"))
    for path in [PARAMS, *config, REPO / "src/faceoff/schemas/params.schema.yaml"]:
        assert read_yaml(path) == yaml.load(path.read_text(), Loader=yaml.SafeLoader), path
    broken = tmp_path / "broken.yaml"
    broken.write_text("families:\n  faceoff: [unclosed\n")
    with pytest.raises(ConfigError, match=r"(?s)broken.yaml: not valid YAML .*line 3, column 1"):
        read_yaml(broken)


def test_missing_sources_one_message_per_dataset(tmp_path: Path) -> None:
    params = load_params([PARAMS, _override(tmp_path, {"run_families": ["faceoff"]})])
    messages = missing_sources(params, root=tmp_path)
    assert (
        len(messages) == 1
        and "persons" in messages[0]
        and "data/raw/persons: person source folder not found" in messages[0]
    )
    every = missing_sources(load_params([PARAMS]), root=tmp_path)  # every family runs: every dataset
    assert [m.split("'")[1] for m in every] == ["ffpp", "jaffe", "persons", "portraits", "vw300"]
    source = tmp_path / "data/raw/persons"
    source.mkdir(parents=True)
    for item in "ABC":
        (source / f"{item}.mp4").write_bytes(b"x")
    (messages,) = [missing_sources(params, root=tmp_path)]
    assert len(messages) == 1 and "person 'D': no D.{mp4" in messages[0]
    (source / "D").mkdir()
    assert missing_sources(params, root=tmp_path) == []


def test_synthetic_datasets_need_no_source() -> None:
    params = load_params([PARAMS, REPO / "config/demo.yaml"])
    assert missing_sources(params) == []
    assert ("A", "B") in groundtruth_pairs(params, "persons") and ("B", "A") in groundtruth_pairs(
        params, "persons"
    )


def test_layout_and_pair_names() -> None:
    params = load_params([PARAMS, REPO / "config/demo.yaml"])
    layout = Layout.of(params)
    assert layout.prepared("persons", "A") == Path("results/demo/prepared/persons/A")
    assert layout.train("faceoff", "A2B-baseline-s0") == Path("results/demo/train/faceoff/A2B-baseline-s0")
    assert split_pair("A2B") == ("A", "B")
    with pytest.raises(ConfigError):
        split_pair("A2B2C")
    # FaceForensics++-style numeric ids may contain a 2: the dataset's items disambiguate.
    assert split_pair("0712054", ["071", "054", "120"]) == ("071", "054")
    assert split_pair("1202071", ["071", "054", "120"]) == ("120", "071")
    with pytest.raises(ConfigError, match="0 readings"):
        split_pair("0712999", ["071", "054"])


def test_cluster_requests_scale_with_pixels_steps_and_attempts() -> None:
    paper = get_run(load_params([PARAMS]), "faceoff/A2B-baseline-s0").settings
    demo = get_run(load_params([PARAMS, REPO / "config/demo.yaml"]), "faceoff/A2B-baseline-s0").settings
    # 400,000 steps at 256 px: a day-long GPU job; the demo's runs fit in the base request.
    assert 1600 < train_runtime_minutes(paper) < 1800
    assert train_runtime_minutes(demo) < 30 and train_mem_mb(demo) < train_mem_mb(paper)
    assert train_runtime_minutes(paper, attempt=2) >= 2 * train_runtime_minutes(paper)
    assert train_mem_mb(paper, attempt=2) == 2 * train_mem_mb(paper)
    bigger = {**paper, "batch_size": 4}
    assert train_mem_mb(bigger) > train_mem_mb(paper)
    assert train_runtime_minutes(bigger) > train_runtime_minutes(paper)


def test_paper_studies_resolve_to_their_models() -> None:
    """Every run of the five studies has valid settings for its model; a variant that switches
    model keeps only the family's shared keys."""
    from faceoff.config.runs import SHARED_TRAIN_KEYS
    from faceoff.train import BaseSettings, settings_from_dict

    params = load_params([PARAMS])
    runs = resolve_runs(params)
    settings = {r.key: settings_from_dict(r.settings) for r in runs}
    models = {key.split("/")[0]: set() for key in settings}
    for key, s in settings.items():
        models[key.split("/")[0]].add(s.model)
    assert models == {
        "faceoff": {"cyclegan"},
        "portrait": {"cyclegan"},
        "expression": {"cyclegan", "nst", "sagan"},
        "reenact": {"reenact"},
        "swap": {"autoencoder", "cyclegan", "progressive_cyclegan"},
    }
    nst = settings["expression/HA2NE-nst-s0"]
    assert nst.crop_size == 128 and not hasattr(nst, "netG")  # shared key kept, CycleGAN's dropped
    assert set(SHARED_TRAIN_KEYS) < {f.name for f in dataclasses.fields(BaseSettings)}
    sagan = settings["expression/HA2NE-sagan-s0"]
    assert (sagan.batch_size, sagan.beta1, sagan.beta2) == (8, 0.0, 0.9)  # not CycleGAN's 1, 0.5
    sweep = settings["portrait/photo2painting-lp10_200-s0"]
    assert (sweep.lambda_p, sweep.train_limit, sweep.total_steps) == (10.0, 200, 10000)
    assert settings["portrait/photo2painting-lp5-s0"].train_limit is None
    ablation = settings["reenact/1142124-no_consistency-s0"]
    assert (ablation.lambda_self, ablation.lambda_triple, ablation.lambda_pixel) == (0.0, 0.0, 10.0)
    plateau = settings["swap/0712054-cyclegan_idt_plateau-s0"]
    assert plateau.lr_policy == "plateau" and plateau.lambda_identity == 0.5
    assert settings["swap/0712054-cyclegan-s0"].lambda_identity == 0.0
    assert settings["expression/HA2NE-cyclegan-s0"].total_steps == 350


def test_run_families_limits_runs_and_datasets(tmp_path: Path) -> None:
    params = load_params([PARAMS, _override(tmp_path, {"run_families": ["swap"]})])
    assert {r.family for r in resolve_runs(params)} == {"swap"}
    with pytest.raises(ConfigError, match=r"run_families\.0"):
        load_params([PARAMS, _override(tmp_path, {"run_families": ["faces"]})])
