"""Face reenactment (300VW study): heatmaps and their mirror, triplet sampling, the six loss terms,
the conditioned nets, training end to end with exact resume, and the evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from faceoff.datasets.crops import center_crop
from faceoff.datasets.prepared import PreparedSplit, load_split
from faceoff.datasets.registry import get_kind
from faceoff.evaluate.glossary import get_glossary
from faceoff.evaluate.reenact import METRICS, evaluate_reenact
from faceoff.evaluate.samples import FILENAME, KEYS, read_samples
from faceoff.evaluate.table import build_table
from faceoff.faces.features import build_feature_net
from faceoff.faces.heatmaps import (
    FLIP_PERMUTATION,
    flip_heatmaps,
    flip_landmarks,
    heatmap_image,
    landmark_heatmaps,
)
from faceoff.faces.identity_net import build_identity_net
from faceoff.losses import reenact as L
from faceoff.nets.reenact import ReenactDiscriminator, ReenactGenerator
from faceoff.plots.reenact import error_heatmaps, error_map, loss_magnitudes, reenactment_grid
from faceoff.prepare.registry import prepare_item
from faceoff.synth.params import EXPRESSION_PRESETS, Lighting, Pose
from faceoff.synth.person_videos import person_identity
from faceoff.synth.render import render_face
from faceoff.synth.spec import SynthSpec
from faceoff.train.data import step_rng
from faceoff.train.reenact import ReenactSettings, sample_triplets
from faceoff.train.registry import load_translator, train_model

TRAIN, TEST = ("001", "002"), ("114", "124")  # official 300VW train and test1 videos
TINY = {
    "crop_size": 32,
    "ngf": 4,
    "ndf": 4,
    "batch_size": 2,
    "steps": 3,
    "steps_decay": 2,
    "log_every": 2,
    "checkpoint_every": 2,
    # The study's formulas on dlib's ResNet (ships offline) instead of VGG19, as config/demo.yaml
    "feature_net": "dlib_resnet",
    "perceptual_layers": ["stage1", "stage2", "stage3", "stage4"],
    "style_layer": "stage3",
    "identity_layer": "stage2",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PreparedSplit]:
    """Two train and two test videos of synthetic 300VW, prepared at 36 px (so crops move by 2)."""
    root = tmp_path_factory.mktemp("300vw")
    get_kind("300vw").synth(
        root / "raw", SynthSpec(items=[*TRAIN, *TEST], n_frames=8, size=64, fps=25, seed=0)
    )
    splits = {}
    for item in (*TRAIN, *TEST):
        report = prepare_item("300vw", root / "raw", item, root / item, {"size": 36}, progress=False)
        splits[item] = load_split(root / item, report["split"], mmap=False)
    return splits


# ---------------------------------------------------------------- heatmaps and flips


def test_heatmap_peaks_at_the_landmark_and_its_width_follows_sigma() -> None:
    points = torch.tensor([[[10.5, 20.5]] * 68])  # the centre of pixel (row 20, column 10)
    for sigma in (1.0, 3.0):
        maps = landmark_heatmaps(points, 32, sigma)
        assert maps.shape == (1, 68, 32, 32)
        assert maps[0, 0, 20, 10] == pytest.approx(1.0) and maps.max() == pytest.approx(1.0)
        assert int(maps[0, 5].argmax()) == 20 * 32 + 10
        assert maps[0, 0, 20, 10 + 2] == pytest.approx(np.exp(-4 / (2 * sigma**2)), rel=1e-5)
        profile = maps[0, 0, 20].double()
        spread = ((torch.arange(32) + 0.5 - 10.5) ** 2 * profile).sum() / profile.sum()
        assert float(spread.sqrt()) == pytest.approx(sigma, rel=0.02)


def test_flip_permutation_is_the_ibug_mirror() -> None:
    perm = np.array(FLIP_PERMUTATION)
    assert sorted(perm) == list(range(68)) and (perm[perm] == np.arange(68)).all()  # an involution
    pairs = {0: 16, 8: 8, 17: 26, 21: 22, 27: 27, 30: 30, 31: 35, 33: 33, 36: 45, 39: 42, 40: 47, 41: 46}
    pairs |= {48: 54, 51: 51, 55: 59, 57: 57, 60: 64, 62: 62, 65: 67, 66: 66}
    assert all(perm[a] == b for a, b in pairs.items())


def test_mirrored_face_is_the_face_turned_the_other_way() -> None:
    """The renderer is symmetric: mirroring a face turned right and moved left, with its points
    reordered, gives exactly the points of the same face turned left and moved right."""
    identity, smile = person_identity(0, "flip"), EXPRESSION_PRESETS["HA"]
    right = render_face(identity, smile, Pose(tx=0.05, yaw=0.35, roll=0.1), Lighting(), 64).landmarks
    left = render_face(identity, smile, Pose(tx=-0.05, yaw=-0.35, roll=-0.1), Lighting(), 64).landmarks
    assert np.abs(right - left).max() > 10
    np.testing.assert_allclose(flip_landmarks(right, 64), left, atol=1e-3)
    flipped = flip_landmarks(right, 64)
    for a, b in ((36, 45), (39, 42), (0, 16), (17, 26), (31, 35), (48, 54), (60, 64)):
        assert flipped[a, 0] < flipped[b, 0]  # point a is on the image's left, as iBUG says
    np.testing.assert_allclose(flip_landmarks(flipped, 64), right, atol=1e-5)


def test_heatmaps_of_flipped_landmarks_are_the_flipped_heatmaps() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(2, 30, (2, 68, 2)).astype(np.float32)
    maps = landmark_heatmaps(torch.from_numpy(points), 32, 1.5)
    of_flipped = landmark_heatmaps(torch.from_numpy(flip_landmarks(points, 32)), 32, 1.5)
    torch.testing.assert_close(of_flipped, flip_heatmaps(maps), atol=1e-6, rtol=0)
    # Channel 36 (eye on the image's left) of the mirror is channel 45 of the original, mirrored.
    torch.testing.assert_close(of_flipped[:, 36], maps[:, 45].flip(-1), atol=1e-6, rtol=0)
    image = heatmap_image(points[0], 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and image.max() > 200


# ---------------------------------------------------------------- triplets


def _coded_video(video: int, n: int, size: int = 36) -> PreparedSplit:
    """Frames whose red channel is the video, green the frame index, blue a left-to-right ramp;
    landmark 0 of frame i sits at x = 5 + i (so it shows which frame it belongs to)."""
    frames = np.zeros((n, size, size, 3), np.uint8)
    frames[..., 0] = 40 * video
    frames[..., 1] = np.arange(n)[:, None, None]
    frames[..., 2] = np.arange(size) * 7
    landmarks = np.random.default_rng(video).uniform(8, 28, (n, 68, 2)).astype(np.float32)
    landmarks[:, 0] = np.stack([5.0 + np.arange(n), np.full(n, 9.0)], 1)
    return PreparedSplit(frames, landmarks, np.ones((n, size, size), np.uint8), np.arange(n))


def test_triplets_are_three_frames_of_one_video_flipped_together() -> None:
    videos = [_coded_video(v, n) for v, n in ((1, 5), (2, 9), (3, 2))]
    frames, points = sample_triplets(videos, step_rng(0, 7, 0), 24, 32, flip=True)
    again, _ = sample_triplets(videos, step_rng(0, 7, 0), 24, 32, flip=True)
    assert frames.shape == (3, 24, 32, 32, 3) and points.shape == (3, 24, 68, 2)
    np.testing.assert_array_equal(frames, again)
    flips = 0
    for b in range(24):
        v = int(frames[0, b, 0, 0, 0]) // 40
        assert (frames[:, b, ..., 0] == 40 * v).all()  # one video
        index = frames[:, b, 0, 0, 1].astype(int)
        if len(videos[v - 1]) >= 3:
            assert len(set(index)) == 3  # three distinct frames
        mirrored = frames[:, b, 0, 0, 2] > frames[:, b, 0, -1, 2]
        assert mirrored.all() or not mirrored.any()  # all three or none
        flips += int(mirrored[0])
        want = videos[v - 1].landmarks[index] - 2  # centre crop 36 -> 32 moves points by 2
        np.testing.assert_allclose(points[:, b], flip_landmarks(want, 32) if mirrored[0] else want)
        ramp = np.arange(2, 34) * 7  # the centre crop's columns
        np.testing.assert_array_equal(
            frames[:, b, 5, :, 2], np.tile(ramp[::-1] if mirrored[0] else ramp, (3, 1))
        )
    assert 0 < flips < 24
    unflipped, _ = sample_triplets(videos, step_rng(0, 7, 0), 24, 32, flip=False)
    assert (unflipped[:, :, 0, 0, 2] < unflipped[:, :, 0, -1, 2]).all()


# ---------------------------------------------------------------- loss terms


@pytest.fixture(scope="module")
def face_nets() -> tuple[torch.nn.Module, torch.nn.Module]:
    return build_feature_net("dlib_resnet"), build_identity_net("dlib_resnet")


def _faces(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    identity = person_identity(seed, "loss")
    images = [
        render_face(
            identity, EXPRESSION_PRESETS["NE"], Pose(yaw=float(rng.uniform(-0.3, 0.3))), Lighting(), size
        ).image
        for _ in range(n)
    ]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def _zero_then_positive(loss: torch.Tensor, zero: torch.Tensor, leaf: torch.Tensor) -> None:
    assert float(zero) == pytest.approx(0.0, abs=1e-6)
    assert float(loss.detach()) > 0
    loss.backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0 and torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize("term", [L.pixel_loss, L.self_consistency_loss, L.triple_consistency_loss])
def test_pixel_space_terms(term: object) -> None:
    x, y = _faces(seed=1), _faces(seed=2)
    fake = x.clone().requires_grad_(True)
    _zero_then_positive(term(fake, y), term(x, x), fake)  # type: ignore[operator]


def test_adversarial_terms() -> None:
    logits = torch.zeros(4, requires_grad=True)
    assert float(L.adversarial_discriminator(torch.zeros(4), torch.zeros(4))) == pytest.approx(np.log(2))
    assert float(L.adversarial_discriminator(torch.full((4,), 20.0), torch.full((4,), -20.0))) < 1e-6
    assert float(L.adversarial_generator(torch.full((4,), 20.0))) < 1e-6
    loss = L.adversarial_generator(logits)
    assert float(loss.detach()) == pytest.approx(np.log(2))
    loss.backward()
    assert (logits.grad < 0).all()  # raising the fakes' scores lowers the generator's loss


def test_feature_space_terms(face_nets: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    features, identity = face_nets
    x, y = _faces(seed=1), _faces(seed=3)
    fake = x.clone().requires_grad_(True)
    form = L.LossForm(perceptual_layers=features.layers, style_layer="stage3", identity_layer="stage2")

    def named(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(features.layers, features(images), strict=True))

    real_feats = named(x)
    _zero_then_positive(
        L.perceptual_loss(named(fake), named(y), form), L.perceptual_loss(real_feats, real_feats, form), fake
    )
    fake = x.clone().requires_grad_(True)
    _zero_then_positive(
        L.identity_loss(identity(fake), identity(y)), L.identity_loss(identity(x), identity(x)), fake
    )
    assert identity(x).shape == (2, 128)


def _triplet(size: int = 32) -> L.Triplet:
    images = _faces(3, size, seed=4)
    rng = np.random.default_rng(1)
    heat = landmark_heatmaps(torch.from_numpy(rng.uniform(8, 24, (3, 68, 2)).astype(np.float32)), size)
    return L.Triplet(images[:1], images[1:2], images[2:], heat[:1], heat[1:2], heat[2:])


def test_a_copying_generator_is_perfectly_consistent() -> None:
    """The collapse the study saw: G(x; e) = x has zero self- and triple-consistency loss."""
    calls = []

    def copy(image: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
        calls.append(image.shape[0])
        return image

    batch = _triplet()
    weights = {"pixel": 10.0, "self": 100.0, "triple": 100.0}
    terms, fake = L.generator_terms(copy, None, batch, weights)
    assert torch.equal(fake, batch.source)
    assert float(terms["self"]) == 0 and float(terms["triple"]) == 0
    assert float(terms["pixel"]) == pytest.approx(10 * float((batch.source - batch.target).pow(2).mean()))
    assert float(terms["total"]) == pytest.approx(float(terms["pixel"]))
    assert calls == [2, 2]  # two batched passes: (e_t, e_m), then (e_s, e_t)
    calls.clear()
    L.generator_terms(copy, None, batch, {"pixel": 1.0})  # no D, nets or second pass needed
    assert calls == [1]


@pytest.mark.parametrize("identity", L.IDENTITY_LOSSES)
def test_every_term_of_a_real_generator_is_positive_and_trains_it(
    face_nets: tuple[torch.nn.Module, torch.nn.Module], identity: str
) -> None:
    torch.manual_seed(0)
    G, D = ReenactGenerator(4), ReenactDiscriminator(4)
    weights = dict(zip(L.TERMS, (1.0, 10.0, 100.0, 100.0, 10.0, 1.0), strict=True))
    form = L.LossForm(
        identity=identity,
        perceptual_layers=face_nets[0].layers,
        style_layer="stage3",
        identity_layer="stage2",
    )
    terms, fake = L.generator_terms(G, D, _triplet(), weights, *face_nets, form)
    values = {k: float(v.detach()) for k, v in terms.items()}
    assert fake.shape == (1, 3, 32, 32)
    assert all(values[t] > 0 for t in L.TERMS)
    assert values["total"] == pytest.approx(sum(values[t] for t in L.TERMS), rel=1e-5)
    for term in L.TERMS:  # each term alone reaches the generator's weights
        G.zero_grad()
        alone, _ = L.generator_terms(G, D, _triplet(), {term: 1.0}, *face_nets, form)
        alone["total"].backward()
        grads = [p.grad for p in G.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, term
        assert all(float(alone[t].detach()) == 0 for t in L.TERMS if t != term)


# ---------------------------------------------------------------- networks


def test_generator_and_discriminator_shapes() -> None:
    G, D = ReenactGenerator(8), ReenactDiscriminator(32, 3)
    strided = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 4  # the study's four down-sampling blocks
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules()) == 4
    for size in (32, 64):
        image, heat = torch.zeros(2, 3, size, size), torch.zeros(2, 68, size, size)
        out = G(image, heat)
        assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
        assert D(image, heat).shape == (2,)
    d_strided = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(d_strided) == 3 and all(m.out_channels == 32 for m in d_strided)
    assert G.stem[0].in_channels == D.model[0].in_channels == 3 + 68


def test_settings_defaults_and_errors() -> None:
    s = ReenactSettings()
    assert (s.crop_size, s.lr, s.lr_discriminator, s.ndf, s.n_downs_D) == (64, 2e-4, 5e-5, 32, 3)
    assert ReenactSettings.from_dict({"lr_D": None}).lr_discriminator == 2e-4
    assert s.weights == {"adv": 1, "pixel": 10, "self": 100, "triple": 100, "perceptual": 10, "identity": 1}
    assert ReenactSettings.from_dict(s.to_dict()) == s
    for bad, match in (
        ({"crop_size": 40}, "multiple of 16"),
        ({"lambda_self": -1}, "lambda_self"),
        ({"lr_D": 0}, "lr_D"),
        ({"feature_net": "vgg16"}, "feature_net"),
        ({"feature_net": "auto"}, "feature_net"),
        ({"feature_net": "dlib_resnet"}, "perceptual_layers"),  # VGG layer names on a face net
        ({"identity_layer": "relu2_3"}, "identity_layer"),
        ({"pixel_loss": "l3"}, "pixel_loss"),
        ({"style": "gram"}, "style"),
        ({"identity_loss": "vgg"}, "identity_loss"),
        ({"lamda_pixel": 1}, "lamda_pixel"),
    ):
        with pytest.raises(ValueError, match=match):
            ReenactSettings.from_dict(bad)


# ---------------------------------------------------------------- training end to end


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["G"]


def test_train_end_to_end_and_exact_resume(prepared: dict[str, PreparedSplit], tmp_path: Path) -> None:
    settings = ReenactSettings.from_dict(TINY)
    data = {item: prepared[item] for item in TRAIN}
    result = train_model(settings, data, None, tmp_path / "full", seed=3, progress=False)
    out = tmp_path / "full"
    assert {p.name for p in out.iterdir()} >= {"model.pt", "losses.csv", "train.json", "samples.png"}
    info = json.loads((out / "train.json").read_text())
    assert info["feature_net"] == info["identity_net"] == "dlib_resnet"  # what ran, for the tables
    assert (
        info["feature_layers"] == ["stage1", "stage2", "stage3", "stage4"]
        and info["identity_layer"] == "stage2"
    )
    assert info["n_videos"] == 2 and result["steps"] == 5 and not result["diverged"]
    with open(out / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4, 5]
    assert all(float(rows[-1][f"G_{t}"]) > 0 for t in L.TERMS)

    stopped = train_model(settings, data, None, tmp_path / "resumed", seed=3, progress=False, stop_after=2)
    assert stopped == {"steps": 2, "stopped": True} and not (tmp_path / "resumed" / "model.pt").exists()
    resumed = train_model(settings, data, None, tmp_path / "resumed", seed=3, progress=False)
    assert resumed["resumed_from"] == 2
    full, again = _weights(out / "model.pt"), _weights(tmp_path / "resumed" / "model.pt")
    assert all(torch.equal(full[k], again[k]) for k in full)
    with open(tmp_path / "resumed" / "losses.csv") as f:
        again_rows = list(csv.DictReader(f))
    columns = ["step", *(f"G_{t}" for t in L.TERMS), "G_total", "D"]
    assert [[r[c] for c in columns] for r in again_rows] == [[r[c] for c in columns] for r in rows]

    reenactor = load_translator(out / "model.pt")
    frames = prepared[TEST[0]].frames[:3, 2:34, 2:34]
    outputs = reenactor.reenact(frames, prepared[TEST[0]].landmarks[3:6] - 2)
    assert outputs.shape == frames.shape and outputs.dtype == np.uint8


def test_ablation_without_feature_terms_builds_no_feature_nets(
    prepared: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    settings = ReenactSettings.from_dict(
        {**TINY, "steps": 2, "steps_decay": 0, "lambda_perceptual": 0, "lambda_identity": 0, "lambda_adv": 0}
    )
    info = train_model(settings, {k: prepared[k] for k in TRAIN}, None, tmp_path, seed=0, progress=False)
    assert info["feature_net"] is None and info["identity_net"] is None
    assert all(info["final_losses"][f"G_{t}"] == 0 for t in ("adv", "perceptual", "identity"))
    assert info["final_losses"]["D"] == 0 and info["final_losses"]["G_self"] > 0


def test_table_names_the_networks_each_run_trained_with(
    prepared: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    """The substitute network is a column, read from what ran (train.json), not from the params."""
    from faceoff.evaluate.table import build_table, summary_table
    from faceoff.io.atomic import write_json

    data = {k: prepared[k] for k in TRAIN}
    ablation = {"lambda_perceptual": 0, "lambda_identity": 0}
    metrics, extra = {}, {}
    for variant, overrides in (("full", {}), ("no_perceptual_identity", ablation)):
        settings = ReenactSettings.from_dict({**TINY, "steps": 2, "steps_decay": 0, **overrides})
        run = f"1142124-{variant}-s0"
        train_model(settings, data, None, tmp_path / run, seed=0, progress=False)
        metrics[run] = tmp_path / run / "metrics.json"
        write_json(metrics[run], {"names": {"A": "114", "B": "124"}, "l1_gt": 0.1, "n_frames": 4})
        info = json.loads((tmp_path / run / "train.json").read_text())
        extra[run] = {**info, "metric_identity_net": "dlib_resnet", "pair": "1142124", "variant": variant}
    df = build_table(metrics, extra).set_index("variant")
    assert df.loc["full", "feature_net"] == df.loc["full", "identity_net"] == "dlib_resnet"
    assert pd.isna(df.loc["no_perceptual_identity", "feature_net"])
    assert set(df["metric_identity_net"]) == {"dlib_resnet"}
    assert summary_table(df.reset_index()).set_index("variant").loc["full", "feature_net"] == "dlib_resnet"


# ---------------------------------------------------------------- evaluation and figures


class Oracle:
    """Stand-ins for the dlib callables that know the test frames: landmarks of a known frame
    are its annotation, of any other image those of the nearest known frame shifted by 1 px;
    a descriptor is the image's mean colour per quadrant (deterministic, identity-like)."""

    def __init__(self, splits: list[PreparedSplit]) -> None:
        self.frames = np.concatenate([s.frames for s in splits]).astype(np.float64)
        self.points = np.concatenate([s.landmarks for s in splits])

    def landmarks(self, image: np.ndarray) -> np.ndarray:
        error = np.abs(self.frames - image).mean(axis=(1, 2, 3))
        k = int(error.argmin())
        return self.points[k] + (0.0 if error[k] == 0 else 1.0)

    @staticmethod
    def embed(images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        n, s = images.shape[:2]
        q = images.reshape(n, 2, s // 2, 2, s // 2, 3).mean(axis=(2, 4)).reshape(n, -1)
        return np.repeat(q, 11, axis=1)[:, :128]


def test_evaluate_reenact_copy_baseline_and_trained(
    prepared: dict[str, PreparedSplit], tmp_path: Path
) -> None:
    tests = {item: prepared[item] for item in TEST}
    cropped = [
        PreparedSplit(s.frames[:, 2:34, 2:34], s.landmarks - 2, s.masks, s.index) for s in tests.values()
    ]
    oracle = Oracle(cropped)
    kwargs = {
        "embed": oracle.embed,
        "landmarks": oracle.landmarks,
        "crop_size": 32,
        "max_frames": 6,
        "fps": 5,
    }
    copy = evaluate_reenact(None, tests, tmp_path / "copy", pair=TEST, **kwargs)
    assert set(METRICS) <= set(copy) and copy["copy_input"] and copy["pair"] == list(TEST)
    assert all(copy[k] is not None for k in METRICS)
    assert copy["landmark_shift"] == 0 and copy["cross_landmark_shift"] == 0  # the face never moves
    assert copy["ssim_input"] == pytest.approx(1.0) and copy["ssim_input_excess"] > 0
    assert copy["driving_nme"] > 0 and copy["target_shift"] > 0
    assert copy["identity_sim_source"] > 0
    assert copy["cross_identity_sim_source"] == pytest.approx(copy["identity_sim_source"])
    assert copy["n_frames"] == 12
    written = json.loads((tmp_path / "copy" / "metrics.json").read_text())
    assert written == json.loads(json.dumps(copy))
    for name in ("samples.png", "faceoff.mp4"):
        assert (tmp_path / "copy" / name).stat().st_size > 0

    settings = ReenactSettings.from_dict({**TINY, "steps": 2, "steps_decay": 0})
    train_model(settings, {k: prepared[k] for k in TRAIN}, None, tmp_path / "run", seed=0, progress=False)
    reenactor = load_translator(tmp_path / "run" / "model.pt")
    trained = evaluate_reenact(reenactor.reenact, tests, tmp_path / "eval", pair=TEST, **kwargs)
    assert not trained["copy_input"] and trained["landmark_shift"] > 0 and trained["ssim_input"] < 1
    # Every scored frame is kept, and a trained run pairs with its copy baseline frame by frame.
    run_rows, copy_rows = (read_samples(tmp_path / d / FILENAME) for d in ("eval", "copy"))
    assert run_rows[list(KEYS)].equals(copy_rows[list(KEYS)]) and len(run_rows) == 2 * trained["n_frames"]
    assert run_rows["landmark_shift"].mean() > 0 and (copy_rows["landmark_shift"].dropna() == 0).all()
    # Every column of the reenactment table is defined in the reenactment glossary.
    table = build_table(
        {"run": tmp_path / "eval" / "metrics.json", "copy": tmp_path / "copy" / "metrics.json"}
    )
    assert set(table.columns) <= set(get_glossary("reenact").columns())
    assert "collapse" not in table and "identity_sim" not in table  # translation's, meaning other things

    video = center_crop(tests[TEST[0]], 32)
    sources, targets = video.frames[:2], video.frames[2:4]
    runs = {"copy": sources, "trained": reenactor.reenact(sources, video.landmarks[2:4])}
    error_heatmaps(sources, video.landmarks[2:4], targets, runs, tmp_path / "b.png")
    reenactment_grid(
        sources, video.landmarks[:2], runs["trained"], targets, video.landmarks[2:4], tmp_path / "a.png"
    )
    loss_magnitudes({"run": tmp_path / "run" / "losses.csv"}, tmp_path / "c.png")
    assert all((tmp_path / f"{n}.png").stat().st_size > 0 for n in "abc")


def test_error_map_is_channel_mean_of_absolute_error() -> None:
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.array([[[255, 0, 0], [30, 30, 30]], [[0, 0, 0], [90, 0, 0]]], np.uint8)
    np.testing.assert_allclose(error_map(a, b), [[85, 30], [0, 30]])
