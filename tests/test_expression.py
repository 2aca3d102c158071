"""Expression transfer (FacePaint): the expression classifier, masked neural style transfer, SA-GAN."""

from __future__ import annotations

import csv
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from faceoff.cli import main as cli_main
from faceoff.config import load_params
from faceoff.config.layout import Layout
from faceoff.config.runs import get_run
from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit, save_split
from faceoff.evaluate import metrics as m
from faceoff.io.atomic import read_json
from faceoff.losses.perceptual import gram_matrix
from faceoff.nets.sagan import SADiscriminator, SAGenerator, SelfAttention
from faceoff.synth import EXPRESSION_PRESETS
from faceoff.synth.params import Lighting, Pose
from faceoff.synth.person_videos import person_identity
from faceoff.synth.render import render_face
from faceoff.train.classifier import ClassifierSettings, ClassifierStepper, ExpressionClassifier
from faceoff.train.nst import NSTSettings, StyleTransfer, masked_gram
from faceoff.train.registry import load_translator, train_model
from faceoff.train.sagan import SAGANSettings, SAGANTranslator, discriminator_loss, generator_loss
from faceoff.train.settings import SettingsError


def faces(code: str, n: int, size: int = 36, seed: int = 0) -> PreparedSplit:
    """JAFFE-like split: n synthetic faces of expression ``code``, grayscale stored as 3 channels."""
    rng = np.random.default_rng([seed, *map(ord, code)])
    frames, masks, landmarks = [], [], []
    for k in range(n):
        pose = Pose(tx=float(rng.uniform(-0.02, 0.02)), scale=float(rng.uniform(0.5, 0.55)))
        face = render_face(
            person_identity(seed, f"subject{k}"), EXPRESSION_PRESETS[code], pose, Lighting(1.5, 0.5), size
        )
        gray = (face.image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round()
        frames.append(np.repeat(gray.astype(np.uint8)[..., None], 3, -1))
        masks.append(face.mask)
        landmarks.append(face.landmarks)
    return PreparedSplit(
        frames=np.asarray(frames),
        landmarks=np.asarray(landmarks, np.float32),
        masks=np.asarray(masks),
        index=np.arange(n),
        extra={"labels": np.full(n, 0, np.int64)},
    )


def colours(colour: tuple[int, int, int], n: int, size: int = 36, seed: int = 0) -> PreparedSplit:
    """A toy class: noisy frames whose central disc has one colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    noise = rng.integers(0, 256, (n, size, size, 3))
    frames = np.where(disc[None, ..., None], np.array(colour) + rng.integers(-30, 31, (n, 1, 1, 3)), noise)
    return PreparedSplit(
        frames=np.clip(frames, 0, 255).astype(np.uint8),
        landmarks=np.zeros((n, 68, 2), np.float32),
        masks=np.repeat(disc[None].astype(np.uint8), n, 0),
        index=np.arange(n),
    )


RED, BLUE = (220, 40, 40), (40, 40, 220)


def model_dict(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------- classifier

CLASSIFIER = {
    "classes": ["red", "blue"],
    "crop_size": 32,
    "width": 8,
    "n_blocks": 3,
    "batch_size": 16,
    "steps": 30,
    "steps_decay": 10,
    "log_every": 10,
    "checkpoint_every": 20,
}


def test_classifier_learns_colours_and_predicts() -> None:
    s = ClassifierSettings.from_dict(CLASSIFIER)
    stepper = ClassifierStepper(s, {"red": colours(RED, 12), "blue": colours(BLUE, 12, seed=1)}, 0, "cpu")
    accuracy = [float(stepper.train_step(step)[1]) for step in range(s.total_steps)]
    assert np.mean(accuracy[-10:]) > 0.9
    clf = ExpressionClassifier({"settings": s.to_dict(), **stepper.weights()})
    assert clf.classes == ("red", "blue")
    red, blue = colours(RED, 10, seed=5).frames, colours(BLUE, 10, seed=6).frames
    assert clf.target_share(red, "red") > 0.9 and clf.target_share(blue, "blue") > 0.9
    assert clf.target_share(blue, "red") < 0.1
    predicted = clf.predict(np.concatenate([red, blue]))  # 36 px: centre-cropped to 32
    assert predicted.dtype == np.int64 and predicted.shape == (20,)
    crops = np.concatenate([red, blue])[:, 2:34, 2:34]
    assert np.array_equal(clf.predict(crops), predicted)
    big = np.concatenate([red, blue]).repeat(2, 1).repeat(2, 2)  # 72 px: resized to 36, then cropped
    assert (clf.predict(big) == predicted).mean() > 0.9
    with pytest.raises(ValueError, match="green"):
        clf.target_share(red, "green")


def test_classifier_rejects_items_outside_classes() -> None:
    s = ClassifierSettings.from_dict(CLASSIFIER)
    data = {"red": colours(RED, 4), "blue": colours(BLUE, 4), "green": colours((40, 220, 40), 4)}
    with pytest.raises(SettingsError, match=r"green.*'classes'"):
        ClassifierStepper(s, data, 0, "cpu")
    with pytest.raises(SettingsError, match="blue"):
        ClassifierStepper(s, {"red": data["red"]}, 0, "cpu")
    with pytest.raises(SettingsError, match="classes"):
        ClassifierSettings.from_dict({"classes": ["HA", "HA"]})
    assert ClassifierSettings().classes == ("AN", "DI", "FE", "HA", "NE", "SA", "SU")


def test_classifier_end_to_end_resumes_exactly(tmp_path: Path) -> None:
    s = ClassifierSettings.from_dict(CLASSIFIER)
    data = {"red": colours(RED, 8), "blue": colours(BLUE, 8, seed=1)}
    result = train_model(s, data, None, tmp_path / "full", seed=3, progress=False)
    assert train_model(s, data, None, tmp_path / "part", seed=3, progress=False, stop_after=20)["stopped"]
    resumed = train_model(s, data, None, tmp_path / "part", seed=3, progress=False)
    assert resumed["resumed_from"] == 20 and result["train_accuracy"] > 0.9
    full, part = model_dict(tmp_path / "full" / "model.pt"), model_dict(tmp_path / "part" / "model.pt")
    assert full["classes"] == ["red", "blue"] and full["frame_size"] == 36
    assert_same_tensors(full["net"], part["net"])
    with open(tmp_path / "full" / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"ce", "acc"} <= set(rows[0]) and len(rows) == 4
    assert read_json(tmp_path / "full" / "train.json")["classes"] == ["red", "blue"]
    clf = ExpressionClassifier.from_file(tmp_path / "full" / "model.pt")
    assert clf.target_share(colours(RED, 6, seed=9).frames, "red") > 0.8


# ---------------------------------------------------------------- neural style transfer


class TinyFeatures(nn.Module):
    """A fixed random conv net with four maps (two strided), standing in for VGG19 in mechanics tests."""

    name = "tiny"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        widths = [3, 8, 8, 16, 16]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, 1 + (k % 2), 1), nn.ReLU())
            for k, (a, b) in enumerate(itertools.pairwise(widths))
        )
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


def transfer(**overrides: Any) -> StyleTransfer:
    return StyleTransfer(TinyFeatures(), NSTSettings.from_dict({"iterations": 10, **overrides}))


def nst_inputs() -> tuple[np.ndarray, np.ndarray, list[torch.Tensor], StyleTransfer]:
    content, style = faces("NE", 3, 32), faces("HA", 4, 32, seed=1)
    st = transfer()
    images = torch.from_numpy(style.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    target = st.style_of(images, torch.from_numpy(style.masks)[:, None].float())
    return content.frames, content.masks, target, st


def test_masked_gram_is_gram_matrix_without_mask() -> None:
    f = torch.randn(2, 5, 6, 6)
    assert torch.allclose(masked_gram(f, torch.ones(2, 1, 12, 12)), gram_matrix(f), atol=1e-6)
    half = torch.zeros(2, 1, 6, 6)
    half[..., :3] = 1
    assert torch.allclose(masked_gram(f, half), gram_matrix(f[..., :3]), atol=1e-6)


def test_nst_without_style_keeps_the_input() -> None:
    frames, masks, target, _ = nst_inputs()
    out = transfer(style_weight=0.0).frames(frames, masks, target)
    assert np.array_equal(out, frames)


def test_nst_changes_only_pixels_inside_the_mask() -> None:
    frames, masks, target, st = nst_inputs()
    out = st.frames(frames, masks, target)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    inside = masks.astype(bool)
    assert np.array_equal(out[~inside], frames[~inside])
    assert np.abs(out[inside].astype(int) - frames[inside]).mean() > 1
    # A batch gives what the images give one by one (per-image losses, per-pixel Adam).
    single = np.concatenate([st.frames(frames[i : i + 1], masks[i : i + 1], target) for i in range(3)])
    assert np.abs(single.astype(int) - out).max() <= 1
    # L-BFGS, and no mask: the whole frame is the face.
    lbfgs = transfer(optimizer="lbfgs", iterations=5).frames(frames[:1], masks[:1], target)
    assert np.array_equal(lbfgs[0][~inside[0]], frames[0][~inside[0]])
    assert not np.array_equal(st.frames(frames[:1], None, target)[0][~inside[0]], frames[0][~inside[0]])


def test_nst_settings() -> None:
    s = NSTSettings()
    assert s.total_steps == 1 and s.feature_net == "vgg19"  # the study's; no silent fallback
    bad_values = ({"steps": 2}, {"style_layers": [4]}, {"content_layer": -1}, {"optimizer": "sgd"})
    for bad in (*bad_values, {"feature_net": "auto"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            NSTSettings.from_dict(bad)


def test_nst_end_to_end_and_resume(tmp_path: Path) -> None:
    data = {"NE": faces("NE", 5, 36), "HA": faces("HA", 5, 36, seed=1)}
    s = NSTSettings.from_dict({"crop_size": 32, "iterations": 3, "n_style": 2, "feature_net": "dlib_resnet"})
    result = train_model(s, data, ("NE", "HA"), tmp_path / "full", seed=0, progress=False)
    assert result["n_style"] == [2, 2] and result["feature_net"] == "dlib_resnet"
    assert set(result["final_losses"]) >= {"style_gap", "spread_A", "spread_B", "gap_ratio"}
    assert train_model(s, data, ("NE", "HA"), tmp_path / "part", seed=0, progress=False, stop_after=1)[
        "stopped"
    ]
    assert train_model(s, data, ("NE", "HA"), tmp_path / "part", seed=0, progress=False)["resumed_from"] == 1
    full, part = model_dict(tmp_path / "full" / "model.pt"), model_dict(tmp_path / "part" / "model.pt")
    assert full["style_B"].shape == (2, 32, 32, 3) and full["feature_net"] == result["feature_net"]
    assert_same_tensors(
        {k: v for k, v in full.items() if k.startswith("style")},
        {k: part[k] for k in full if k.startswith("style")},
    )
    assert (tmp_path / "full" / "samples.png").is_file()
    frames, masks = data["NE"].frames[:2, 2:34, 2:34], data["NE"].masks[:2, 2:34, 2:34]
    out = load_translator(tmp_path / "full" / "model.pt").translate("AB", frames, masks)
    assert out.shape == frames.shape and np.array_equal(out[masks == 0], frames[masks == 0])


# ---------------------------------------------------------------- SA-GAN


def test_self_attention_identity_at_init_and_normalised() -> None:
    block = SelfAttention(16)
    x = torch.randn(2, 16, 5, 7)
    assert torch.equal(block(x), x)
    weights = block.attention(x)
    assert weights.shape == (2, 35, 35)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 35), atol=1e-5) and (weights >= 0).all()
    with torch.no_grad():
        block.gamma.fill_(0.5)
    assert not torch.allclose(block(x), x)


def test_generator_is_class_conditional() -> None:
    g = SAGenerator(7, ngf=4, n_blocks=1).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out_a, out_b = g(x, torch.tensor([0, 0])), g(x, torch.tensor([3, 3]))
    assert out_a.shape == (2, 3, 32, 32) and out_a.abs().max() <= 1
    assert (out_a - out_b).abs().mean() > 1e-3  # the class survives the instance norms
    assert SADiscriminator(8, ndf=4, n_layers=3)(x).shape == (2, 8)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.zeros(1, 3, 30, 30), torch.tensor([0]))


@pytest.mark.parametrize(
    ("gan_mode", "ce_fake"), [("ce", "fake_class"), ("ce", "target"), ("wgan", "fake_class")]
)
def test_sagan_losses_finite_and_differentiable(gan_mode: str, ce_fake: str) -> None:
    s = SAGANSettings.from_dict({"gan_mode": gan_mode, "ce_fake": ce_fake, "crop_size": 32})
    g, d = SAGenerator(7, ngf=4, n_blocks=1), SADiscriminator(8, ndf=4, n_layers=3)
    real, labels, targets = torch.rand(3, 3, 32, 32) * 2 - 1, torch.tensor([0, 3, 6]), torch.tensor([1, 1, 4])
    fake = g(real, targets)
    d_terms = discriminator_loss(s, d, real, labels, fake, targets, torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in d_terms.values())
    d_terms["D"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in d.parameters())
    assert all(p.grad is None for p in g.parameters())  # D's loss sees the fakes detached
    d.zero_grad()
    g_terms = generator_loss(s, d, fake, targets)
    assert all(torch.isfinite(v) for v in g_terms.values())
    g_terms["G"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())
    assert (float(d_terms["gp"].detach()) > 0) == (gan_mode == "wgan")


SAGAN = {
    "classes": ["NE", "HA", "SU"],
    "crop_size": 32,
    "ngf": 4,
    "ndf": 4,
    "n_blocks": 1,
    "n_downs_D": 3,
    "batch_size": 2,
    "steps": 3,
    "steps_decay": 3,
    "log_every": 2,
    "checkpoint_every": 3,
    "gan_mode": "wgan",
    "n_critic": 2,
    "lambda_cycle": 1.0,
}


def test_sagan_end_to_end_resumes_exactly(tmp_path: Path) -> None:
    s = SAGANSettings.from_dict(SAGAN)
    data = {c: faces(c, 3, 36, seed=k) for k, c in enumerate(s.classes)}
    result = train_model(s, data, None, tmp_path / "full", seed=1, progress=False)
    assert not result["diverged"] and result["train_frames"] == {"NE": 3, "HA": 3, "SU": 3}
    assert train_model(s, data, None, tmp_path / "part", seed=1, progress=False, stop_after=3)["stopped"]
    assert train_model(s, data, None, tmp_path / "part", seed=1, progress=False)["resumed_from"] == 3
    full, part = model_dict(tmp_path / "full" / "model.pt"), model_dict(tmp_path / "part" / "model.pt")
    assert_same_tensors(full["G"], part["G"])
    with open(tmp_path / "full" / "losses.csv") as f:
        assert {"D", "G", "GP", "cycle", "real_acc", "fake_acc"} <= set(next(csv.DictReader(f)))
    frames = data["HA"].frames[:, 2:34, 2:34]
    for source, target in (("HA", "NE"), ("SU", "HA")):  # the run's items decide what is rendered
        translator = load_translator(tmp_path / "full" / "model.pt", items=(source, target))
        to_target = translator.translate("AB", frames, None)
        assert to_target.dtype == np.uint8 and to_target.shape == frames.shape
        assert np.array_equal(to_target, translator.translate_to(frames, target))
        assert np.array_equal(
            translator.translate("BA", frames, None), translator.translate_to(frames, source)
        )
    with pytest.raises(ValueError, match="pass them"):
        load_translator(tmp_path / "full" / "model.pt")
    with pytest.raises(SettingsError, match="pair HA2AN is not two different SA-GAN classes"):
        SAGANTranslator(full, items=("HA", "AN"))
    with pytest.raises(ValueError, match="run's items"):
        SAGANTranslator(full).translate("AB", frames, None)


def test_sagan_settings() -> None:
    with pytest.raises(SettingsError, match="unknown training setting 'pair'"):  # the run's pair decides
        SAGANSettings.from_dict({"pair": ["HA", "NE"]})
    with pytest.raises(SettingsError, match="gan_mode"):
        SAGANSettings.from_dict({"gan_mode": "lsgan"})
    with pytest.raises(SettingsError, match="crop_size"):
        SAGANSettings.from_dict({"crop_size": 30})


def test_family_pair_decides_what_sagan_renders_and_is_scored(tmp_path: Path) -> None:
    """No SA-GAN setting names the expressions: `faceoff evaluate` of HA2NE-sagan renders and scores
    NE (and HA back), and changing the family's pair to SU2HA renders and scores HA (and SU)."""
    root, repo = tmp_path / "results", Path(__file__).resolve().parents[1]
    data = {c: faces(c, 3, 36, seed=k) for k, c in enumerate(SAGAN["classes"])}
    train_model(SAGANSettings.from_dict(SAGAN), data, None, tmp_path / "sagan", seed=0, progress=False)
    classifier = {**CLASSIFIER, "classes": SAGAN["classes"], "steps": 2, "steps_decay": 0, "batch_size": 4}
    train_model(
        ClassifierSettings.from_dict(classifier),
        data,
        None,
        root / "train" / "expression" / "classifier",
        seed=0,
        progress=False,
    )
    clf = ExpressionClassifier.from_file(root / "train" / "expression" / "classifier" / "model.pt")
    scored = {}
    for pair in ("HA2NE", "SU2HA"):
        override = tmp_path / f"{pair}.yaml"
        family = {
            "pairs": [pair],
            "train": {"crop_size": 32},
            "evaluate": {"max_frames": 3, "video_frames": 2},
        }
        override.write_text(yaml.safe_dump({"output_dir": str(root), "families": {"expression": family}}))
        params = load_params([repo / "params.yaml", override])
        run = get_run(params, f"expression/{pair}-sagan-s0")
        layout = Layout.of(params)
        for item in run.items:
            for split in ("train", "test"):  # train: the identity references
                save_split(layout.prepared("jaffe", item), split, data[item])
        shutil.copytree(tmp_path / "sagan", layout.train("expression", run.id))
        assert (
            cli_main(["-c", str(repo / "params.yaml"), "-c", str(override), "evaluate", "--run", run.key])
            == 0
        )
        metrics = read_json(layout.evaluate("expression", run.id) / "metrics.json")
        translator = load_translator(layout.train("expression", run.id) / "model.pt", items=run.items)
        source, target = run.items
        assert metrics["names"] == {"A": source, "B": target}
        for direction, (a, b) in (("A2B", (source, target)), ("B2A", (target, source))):
            frames = center_crop(data[a], 32).frames
            rendered = translator.translate_to(frames, b)
            assert metrics[direction]["expression_success"] == clf.target_share(rendered, b)
            assert metrics[direction]["ssim_input"] == pytest.approx(
                m.ssim(rendered, frames).mean(), abs=1e-9
            )
            others = [c for c in SAGAN["classes"] if c != b]
            assert all(
                metrics[direction]["ssim_input"]
                != pytest.approx(m.ssim(translator.translate_to(frames, c), frames).mean())
                for c in others
            )
        scored[pair] = metrics["A2B"]["ssim_input"]
    assert scored["HA2NE"] != scored["SU2HA"]
