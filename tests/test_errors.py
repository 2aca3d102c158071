"""Every failure a user can cause ends in one message naming the file or key and the fix, exit 2.

Each test drives ``python -m faceoff`` on the smoke configuration in a temporary output folder,
with TORCH_HOME pointed at an empty folder: no pretrained weights beyond those the packages ship.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from faceoff.datasets.prepared import PreparedSplit, save_split
from faceoff.faces.facenet import FACENET_FILE

from .conftest import REPO

FACENET_HINT = "pretrained='vggface2'"


def _faceoff(
    tmp_path: Path, *args: str, override: dict | None = None, debug: bool = False
) -> subprocess.CompletedProcess[str]:
    """``faceoff -c params.yaml -c config/smoke.yaml -c <override> ARGS`` writing under tmp_path."""
    data = {"output_dir": str(tmp_path / "results"), **(override or {})}
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(data))
    torch_home = tmp_path / "torch_home"
    torch_home.mkdir(exist_ok=True)
    env = {**os.environ, "TORCH_HOME": str(torch_home), "OMP_NUM_THREADS": "1"}
    env.pop("FACEOFF_DEBUG", None)
    if debug:
        env["FACEOFF_DEBUG"] = "1"
    command = [
        sys.executable,
        "-m",
        "faceoff",
        "-c",
        "params.yaml",
        "-c",
        "config/smoke.yaml",
        "-c",
        str(path),
    ]
    return subprocess.run([*command, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The error message, after checking it is the only one and no traceback came with it."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("faceoff: error: ") == 1, proc.stderr
    return proc.stderr.split("faceoff: error: ", 1)[1]


def _write_prepared(root: Path, items: tuple[str, ...], size: int) -> None:
    """Prepared train and test splits of ``size`` px for ``items`` of the persons dataset."""
    rng = np.random.default_rng(0)
    for item in items:
        for split, n in (("train", 6), ("test", 4)):
            data = PreparedSplit(
                frames=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                landmarks=rng.uniform(0, size, (n, 68, 2)).astype(np.float32),
                masks=np.ones((n, size, size), np.uint8),
                index=np.arange(n, dtype=np.int64),
            )
            save_split(root / "results" / "prepared" / "persons" / item, split, data)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ({"crop_size": 34}, "crop_size 34 is not a multiple of 4, as resnet_6blocks requires"),
        ({"latent": 8}, "unknown training setting 'latent' for model 'cyclegan'"),  # an autoencoder key
    ],
)
def test_invalid_training_settings(tmp_path: Path, variant: dict, expected: str) -> None:
    override = {"families": {"faceoff": {"variants": {"baseline": variant}}}}
    proc = _faceoff(tmp_path, "train", "--run", "faceoff/A2B-baseline-s0", override=override)
    assert expected in _one_error(proc)


def test_unknown_key_names_the_file(tmp_path: Path) -> None:
    proc = _faceoff(tmp_path, "config", "runs", override={"families": {"faceoff": {"evaluat": {}}}})
    assert f"{tmp_path / 'override.yaml'}: families.faceoff.evaluat: unknown key 'evaluat'" in _one_error(
        proc
    )


def test_unknown_run_suggests_the_closest(tmp_path: Path) -> None:
    message = _one_error(_faceoff(tmp_path, "evaluate", "--run", "faceoff/A2B-baselin-s0"))
    assert "unknown run 'faceoff/A2B-baselin-s0'" in message
    assert "did you mean 'faceoff/A2B-baseline-s0'?" in message and "`faceoff config runs`" in message


def test_crop_larger_than_the_prepared_frames(tmp_path: Path) -> None:
    override = {"families": {"faceoff": {"train": {"crop_size": 100}}}}
    check = _one_error(_faceoff(tmp_path, "config", "check", override=override))
    assert (
        "run faceoff/A2B-baseline-s0: families.faceoff.train.crop_size = 100 is larger than "
        "datasets.persons.prepare.size = 96: lower families.faceoff.train.crop_size, or raise "
        "datasets.persons.prepare.size to at least 100"
    ) in check
    assert "run faceoff/A2B-wgan-s0" in check
    _write_prepared(tmp_path, ("A", "B"), size=40)
    message = _one_error(_faceoff(tmp_path, "train", "--run", "faceoff/A2B-baseline-s0", override=override))
    prepared = tmp_path / "results" / "prepared" / "persons" / "A"
    assert (
        f"families.faceoff.train.crop_size = 100 is larger than the frames in {prepared} (40 px)" in message
    )
    assert "then prepare again" in message
    assert not (tmp_path / "results" / "train").exists()  # stopped before training


def test_missing_weights_stop_training_before_it_starts(tmp_path: Path) -> None:
    override = {"families": {"portrait": {"train": {"identity_net": "facenet"}}}}
    proc = _faceoff(tmp_path, "train", "--run", "portrait/photo2painting-lp5_200-s0", override=override)
    message = _one_error(proc)
    assert "run portrait/photo2painting-lp5_200-s0" in message
    assert f"expected {FACENET_FILE} in {tmp_path / 'torch_home' / 'checkpoints'}" in message
    assert FACENET_HINT in message


def _frames_folder(tmp_path: Path, n: int = 4) -> Path:
    """A persons source whose item A is a folder of blank frames: no face in any of them."""
    folder = tmp_path / "raw" / "A"
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(folder / f"{i:03d}.png")
    return folder.parent


def _prepare_blank_item(tmp_path: Path, landmarks: str) -> tuple[Path, str]:
    """Prepare item A of blank frames with the dlib detector; its source and the one error message."""
    source = _frames_folder(tmp_path)
    prepare = {"detector": "dlib", "landmarks": landmarks}
    override = {"datasets": {"persons": {"source": str(source), "prepare": prepare}}}
    proc = _faceoff(tmp_path, "prepare", "--dataset", "persons", "--item", "A", override=override)
    return source, _one_error(proc)


def test_missing_landmark_weights_stop_prepare(tmp_path: Path) -> None:
    _, message = _prepare_blank_item(tmp_path, "fan")
    assert "FAN landmark weights not found: expected 2DFAN4-" in message
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in message and "landmarks: dlib" in message


def test_item_without_a_face(tmp_path: Path) -> None:
    source, message = _prepare_blank_item(tmp_path, "dlib")
    assert f"{source / 'A'}: no face found in any of its 4 decoded frames" in message
    assert "item 'A' of datasets.persons cannot be prepared" in message
    assert "datasets.persons.prepare (detector: dlib, landmarks: dlib)" in message
    assert not (tmp_path / "results" / "prepared").exists()


@pytest.mark.parametrize("state", ["missing", "garbage", "truncated"])
def test_missing_or_corrupt_model(tmp_path: Path, state: str) -> None:
    model = tmp_path / "results" / "train" / "faceoff" / "A2B-baseline-s0" / "model.pt"
    model.parent.mkdir(parents=True)
    if state == "garbage":
        model.write_bytes(b"not a model" * 100)
    elif state == "truncated":
        torch.save({"weights": torch.arange(10_000.0)}, model)
        model.write_bytes(model.read_bytes()[:20_000])
    message = _one_error(_faceoff(tmp_path, "evaluate", "--run", "faceoff/A2B-baseline-s0"))
    train = "`faceoff train --run faceoff/A2B-baseline-s0`"
    if state == "missing":
        assert f"{model}: trained model not found: run {train} first" in message
    else:
        assert (
            f"{model}: not a complete model file" in message and f"delete it and run {train} again" in message
        )


def test_damaged_resume_checkpoint(tmp_path: Path) -> None:
    _write_prepared(tmp_path, ("A", "B"), size=96)
    ckpt = tmp_path / "results" / "train" / "faceoff" / "A2B-baseline-s0" / "ckpt" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"weights": torch.arange(10_000.0)}, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:20_000])
    message = _one_error(_faceoff(tmp_path, "train", "--run", "faceoff/A2B-baseline-s0"))
    assert f"{ckpt}: resume checkpoint cannot be read" in message
    assert "delete it to train this run from its start" in message


@pytest.mark.parametrize("state", ["missing", "corrupt"])
def test_missing_or_corrupt_train_json(tmp_path: Path, state: str) -> None:
    run = tmp_path / "results" / "train" / "faceoff" / "A2B-baseline-s0"
    run.mkdir(parents=True)
    if state == "corrupt":
        (run / "train.json").write_text('{"steps": 10,')
    message = _one_error(_faceoff(tmp_path, "table", "--family", "faceoff"))
    train = "`faceoff train --run faceoff/A2B-baseline-s0`"
    if state == "missing":
        assert f"{run / 'train.json'}: not found: run {train} first" in message
    else:
        assert (
            f"{run / 'train.json'}: not valid JSON" in message
            and f"delete it and run {train} again" in message
        )


def test_config_check_lists_missing_weights_per_run(tmp_path: Path) -> None:
    assert _faceoff(tmp_path, "config", "check").returncode == 0  # smoke: only shipped weights
    override = {
        "datasets": {"persons": {"prepare": {"detector": "mtcnn", "landmarks": "fan"}}},
        "families": {
            "portrait": {"train": {"identity_net": "facenet"}, "evaluate": {"identity_net": "facenet"}},
            "expression": {"variants": {"nst": {"feature_net": "vgg19"}}},
        },
    }
    message = _one_error(_faceoff(tmp_path, "config", "check", override=override))
    home = tmp_path / "torch_home"
    facenet, vgg, fan = (
        message.partition(title)[2].split("\n  ")[0:2] for title in ("FaceNet", "VGG19", "FAN")
    )
    assert f"expected {FACENET_FILE} in {home / 'checkpoints'}" in facenet[0]
    lambda_p = [f"run portrait/photo2painting-{v}-s0" for v in ("lp1_200", "lp5_200", "lp10_200", "lp5")]
    assert facenet[1].strip() == (
        f"needed by: {', '.join(lambda_p)}, families.portrait.evaluate.identity_net"
    )  # the baseline has lambda_p 0: it loads no identity network
    assert f"expected vgg19-dcbb9e9d.pth in {home / 'hub' / 'checkpoints'}" in vgg[0]
    assert vgg[1].strip() == "needed by: run expression/HA2NE-nst-s0"
    assert "expected 2DFAN4-" in fan[0] and fan[1].strip() == "needed by: datasets.persons.prepare.landmarks"


def test_paper_configuration_lists_the_weights_it_lacks(tmp_path: Path) -> None:
    torch_home = tmp_path / "torch_home"
    torch_home.mkdir()
    env = {**os.environ, "TORCH_HOME": str(torch_home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "faceoff", "-c", "params.yaml", "config", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    message = _one_error(proc)
    assert f"expected {FACENET_FILE} in {torch_home / 'checkpoints'}" in message
    assert f"expected vgg19-dcbb9e9d.pth in {torch_home / 'hub' / 'checkpoints'}" in message


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = _faceoff(tmp_path, "train", "--run", "faceoff/nope", debug=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ConfigError: unknown run" in proc.stderr
    proc = _faceoff(tmp_path, "--debug", "train", "--run", "faceoff/nope")
    assert "Traceback" in proc.stderr and "ConfigError: unknown run" in proc.stderr


def test_mtcnn_weights_are_found_without_importing_facenet(monkeypatch: pytest.MonkeyPatch) -> None:
    """`faceoff config check` locates the package's MTCNN files without importing the package
    (which imports torchvision); without the package, it says so instead of failing."""
    import importlib.util

    import facenet_pytorch

    from faceoff.faces.weights import locate

    probe = "import sys; from faceoff.faces.weights import locate; w = locate('mtcnn'); "
    probe += "print(w.present, 'facenet_pytorch' in sys.modules, *w.files)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    data = Path(facenet_pytorch.__file__).parent / "data"
    assert out == ["True", "False", *(str(data / f"{s}.pt") for s in ("pnet", "rnet", "onet"))]
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "facenet_pytorch" else find_spec(n)
    )
    assert locate("mtcnn").problem() == (
        "MTCNN weights: the package facenet-pytorch is not installed (`make env` installs it). "
        "They ship with the package facenet-pytorch: reinstall it."
    )
