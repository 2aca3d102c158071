"""The field's metric protocols (issue 13 item 2): each metric gives its ideal value for the ground
truth and its failure value for a copied or blurred input, on synthetic data and on real faces
(scikit-image's astronaut, matplotlib's Grace Hopper, landmarks from dlib's shipped predictor)."""

from __future__ import annotations

import math

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation
from skimage import data

from faceoff.evaluate.expression import expression_error
from faceoff.evaluate.headpose import MODEL_POINTS, camera_matrix, head_pose, pose_error
from faceoff.evaluate.kid import FID_MIN_SAMPLES, fid, inception_problem, kid, kid_features
from faceoff.evaluate.retrieval import (
    gallery_means,
    id_retrieval,
    nearest_identity,
    retrieval_hits,
    retrieval_net,
)
from faceoff.evaluate.sharpness import laplacian_variance, sharpness_ratio
from faceoff.faces.weights import MissingWeightsError, locate


def _portrait(name: str) -> np.ndarray:
    if name == "astronaut":
        return data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


@pytest.fixture(scope="module")
def portraits() -> dict[str, np.ndarray]:
    return {name: _portrait(name) for name in ("astronaut", "grace_hopper")}


@pytest.fixture(scope="module")
def landmarks(portraits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each portrait's 68 landmarks, and those of the portrait turned in-plane by 15 degrees."""
    from faceoff.faces.landmarks import LandmarkFinder

    find = LandmarkFinder()
    found = {}
    for name, image in portraits.items():
        found[name] = find(image)
        found[f"{name}_rot15"] = find(_rotate(image, 15))
    assert all(v is not None for v in found.values())
    return found


def _crops(image: np.ndarray, n: int, seed: int, side: int = 96) -> np.ndarray:
    """``n`` frames of one face: random shifts of a central crop, small noise (one distribution)."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    top, left = h // 2 - 3 * side // 2, w // 2 - side
    frames = []
    for dy, dx in rng.integers(0, side // 4, (n, 2)):
        crop = image[top + dy : top + dy + 2 * side, left + dx : left + dx + 2 * side].astype(np.float32)
        crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        frames.append(np.clip(crop + rng.normal(0, 4, crop.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


# ---- KID / FID -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domains(portraits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Target domain (Grace Hopper): real test frames and a ground-truth translation drawn from the
    same distribution; the source domain (astronaut) frames, which a copying model outputs."""
    return {
        "real": _crops(portraits["grace_hopper"], 40, seed=1),
        "truth": _crops(portraits["grace_hopper"], 40, seed=2),
        "copy": _crops(portraits["astronaut"], 40, seed=3),
    }


@pytest.fixture(scope="module")
def kids(domains: dict[str, np.ndarray]) -> dict[str, object]:
    real = domains["real"]
    return {
        "truth": kid(real, domains["truth"], subsets=20, subset_size=30, seed=7),
        "truth_again": kid(real, domains["truth"], subsets=20, subset_size=30, seed=7),
        "truth_other_seed": kid(real, domains["truth"], subsets=20, subset_size=30, seed=8),
        "copy": kid(real, domains["copy"], subsets=20, subset_size=1000, seed=7),
    }


def test_kid_is_near_zero_for_the_ground_truth_and_clearly_positive_for_the_copy(kids: dict) -> None:
    truth, copy = kids["truth"], kids["copy"]
    assert abs(truth.mean) < 0.01
    assert copy.mean > 0.1 and copy.mean > 20 * max(abs(truth.mean), truth.std)
    assert truth.subsets == 20 and truth.subset_size == 30
    assert copy.subset_size == 40, "the subset size is capped at the sample count, and stated"
    assert (copy.n_real, copy.n_fake) == (40, 40)


def test_kid_is_reproducible_with_a_seed_and_leaves_the_global_generator_alone(kids: dict) -> None:
    assert kids["truth"] == kids["truth_again"]
    assert kids["truth"].mean != kids["truth_other_seed"].mean, "the seed draws the subsets"
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    kid(np.zeros((3, 8, 8, 3), np.uint8), np.full((3, 8, 8, 3), 9, np.uint8), subsets=2, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_kid_names_its_features_and_falls_back_only_where_inception_is_missing(kids: dict) -> None:
    problem = inception_problem()
    assert kids["truth"].features == ("dlib_resnet" if problem else "inception_v3")
    assert kid_features("dlib_resnet") == "dlib_resnet"
    with pytest.raises(ValueError, match="unknown KID features"):
        kid_features("vgg19")
    if problem:
        with pytest.raises(MissingWeightsError):
            kid_features("inception_v3")


def test_kid_is_the_unbiased_mmd_of_the_cubic_polynomial_kernel_stated_in_the_glossary(domains: dict) -> None:
    """With one subset of every sample, KID is the estimator on the whole sets: the definition in
    the glossary, written out here, must match what torchmetrics computes for us."""
    import torch

    from faceoff.evaluate.kid import DlibPooledFeatures

    real, fake = domains["real"][:12], domains["copy"][:12]
    net = DlibPooledFeatures()
    with torch.no_grad():
        x, y = (net(torch.from_numpy(a).permute(0, 3, 1, 2)).numpy() for a in (real, fake))
    m, d = len(x), x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    off = ~np.eye(m, dtype=bool)
    expected = (kxx[off].sum() + kyy[off].sum()) / (m * (m - 1)) - 2 * kxy.mean()
    result = kid(real, fake, subsets=1, subset_size=m, features="dlib_resnet")
    assert result.mean == pytest.approx(expected, rel=1e-9) and result.std == 0.0


def test_kid_of_fewer_than_two_samples_is_undefined_not_an_error() -> None:
    result = kid(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((5, 8, 8, 3), np.uint8))
    assert math.isnan(result.mean) and result.subset_size == 1


def test_fid_refuses_small_samples_and_otherwise_separates_the_copy(domains: dict) -> None:
    refused = fid(domains["real"], domains["truth"])
    assert refused.value is None and str(FID_MIN_SAMPLES) in refused.reason
    # The refusal threshold is what keeps small-sample FID out of tables; lowered, the computation
    # itself can be checked: a set against itself is 0, the copy far from the target domain.
    same = fid(domains["real"], domains["real"], min_samples=2)
    copy = fid(domains["real"], domains["copy"], min_samples=2)
    assert same.reason is None and abs(same.value) < 1e-2
    assert copy.value > 1.0


# ---- head pose -------------------------------------------------------------------------------


def _project(yaw: float, pitch: float, roll: float, size: tuple[int, int]) -> np.ndarray:
    """(68, 2) landmarks of the generic model turned by the given angles 600 mm from the camera
    (points the model lacks are left at 0: the fit does not read them)."""
    model = np.array(list(MODEL_POINTS.values()), dtype=np.float64)
    rvec = Rotation.from_euler("YXZ", [yaw, pitch, roll], degrees=True).as_rotvec()
    points, _ = cv2.projectPoints(model, rvec, np.array([10.0, -5.0, 600.0]), camera_matrix(size), None)
    out = np.zeros((68, 2))
    out[list(MODEL_POINTS)] = points.reshape(-1, 2)
    return out


@pytest.mark.parametrize("angles", [(0, 0, 0), (25, -10, 5), (-40, 15, -20), (10, 30, 12)])
def test_pnp_recovers_a_known_rotation_of_the_model_within_a_degree(angles: tuple) -> None:
    size = (240, 320)
    found = head_pose(_project(*angles, size)[None], size)[0]
    np.testing.assert_allclose(found, angles, atol=1.0)


def test_pose_error_is_zero_for_the_source_pose_and_the_angle_difference_otherwise() -> None:
    size = (256, 256)
    source = np.stack([_project(20, -5, 3, size), _project(0, 0, 0, size), _project(0, 0, 0, size)])
    output = np.stack([_project(20, -5, 3, size), _project(30, 0, 0, size), np.full((68, 2), np.nan)])
    err = pose_error(output, source, size)
    assert err[0] < 0.1
    assert err[1] == pytest.approx(30.0, abs=1.0)
    assert np.isnan(err[2]), "no landmarks, no pose"


def test_pose_of_real_faces_is_near_frontal_and_follows_an_in_plane_turn(landmarks: dict) -> None:
    for name, size in (("astronaut", (512, 512)), ("grace_hopper", (600, 512))):
        pose = head_pose(landmarks[name][None], size)[0]
        assert np.all(np.abs(pose) < 25), f"{name}: {pose}"
        # Turning the photo by 15 degrees turns the head by 15 degrees, whatever the landmarks' noise.
        err = pose_error(landmarks[f"{name}_rot15"][None], landmarks[name][None], size)[0]
        assert err == pytest.approx(15.0, abs=3.0), name
        assert pose_error(landmarks[name][None], landmarks[name][None], size)[0] < 1e-6


# ---- expression residual ---------------------------------------------------------------------


def _similar(points: np.ndarray, degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    t = math.radians(degrees)
    rotation = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return scale * points @ rotation.T + np.asarray(shift)


def test_procrustes_residual_is_zero_for_a_rotated_scaled_copy_and_grows_with_the_expression(
    landmarks: dict,
) -> None:
    source = landmarks["astronaut"].astype(np.float64)
    opened = source.copy()
    opened[[56, 57, 58, 65, 66, 67]] += (0.0, 0.15 * np.linalg.norm(source[36] - source[45]))
    outputs = np.stack(
        [
            _similar(source, 23.0, 0.6, (40.0, -17.0)),  # the source's expression, moved: ideal
            _similar(opened, -10.0, 1.3, (5.0, 5.0)),  # the mouth opened
            source[:, ::-1],  # garbage geometry
            np.full((68, 2), np.nan),  # no face found
        ]
    )
    err = expression_error(outputs, np.repeat(source[None], 4, axis=0))
    assert err[0] < 1e-9
    assert 0.005 < err[1] < err[2]
    assert np.isnan(err[3])


def test_expression_residual_rejects_reflections_and_separates_two_people(landmarks: dict) -> None:
    source = landmarks["astronaut"].astype(np.float64)
    mirrored = source * (-1.0, 1.0)  # same labels, mirror image: not a similarity of the face
    other = landmarks["grace_hopper"].astype(np.float64)
    err = expression_error(np.stack([mirrored, other]), np.stack([source, source]))
    assert err[0] > 0.02 and err[1] > 0.02


# ---- identity retrieval ----------------------------------------------------------------------


def test_id_retrieval_is_100_for_the_target_and_0_for_the_copied_source() -> None:
    rng = np.random.default_rng(0)
    people = {f"p{i}": rng.normal(size=128) for i in range(12)}  # test items plus distractors
    gallery = gallery_means(
        np.concatenate([v + rng.normal(0, 0.3, (5, 128)) for v in people.values()]),
        [name for name in people for _ in range(5)],
    )
    assert sorted(gallery) == sorted(people)
    sources, targets = ["p0", "p1", "p2", "p3"], ["p1", "p0", "p3", "p2"]
    swapped = np.stack([people[t] + rng.normal(0, 0.3, 128) for t in targets])
    copied = np.stack([people[s] + rng.normal(0, 0.3, 128) for s in sources])
    assert id_retrieval(swapped, targets, gallery) == 100.0
    assert id_retrieval(copied, targets, gallery) == 0.0
    assert nearest_identity(copied, gallery) == sources
    half = np.concatenate([swapped[:2], copied[2:], np.full((1, 128), np.nan)])
    hits = retrieval_hits(half, [*targets, "p4"], gallery)
    np.testing.assert_array_equal(hits, [100.0, 100.0, 0.0, 0.0, np.nan])
    assert id_retrieval(half, [*targets, "p4"], gallery) == 50.0
    with pytest.raises(ValueError, match="missing from the gallery"):
        retrieval_hits(swapped, ["p1", "p0", "p3", "nobody"], gallery)


def test_id_retrieval_of_real_faces_with_dlib_descriptors(portraits: dict) -> None:
    from faceoff.faces.identity import make_embedder

    embed = make_embedder("dlib_resnet").embed
    frames = {name: _crops(image, 4, seed=5, side=160) for name, image in portraits.items()}
    gallery = {name: embed(f[:2]).mean(axis=0) for name, f in frames.items()}
    as_hopper = embed(frames["grace_hopper"][2:])
    assert id_retrieval(as_hopper, ["grace_hopper"] * 2, gallery) == 100.0
    assert id_retrieval(embed(frames["astronaut"][2:]), ["grace_hopper"] * 2, gallery) == 0.0


def test_retrieval_net_differs_from_the_one_the_loss_trained_with() -> None:
    facenet_here = locate("facenet").present
    choice = retrieval_net("dlib_resnet")
    assert choice.name == ("facenet" if facenet_here else None)
    assert choice.independent == facenet_here and "dlib_resnet" in choice.reason
    assert retrieval_net("facenet").name == "dlib_resnet"
    assert retrieval_net(["facenet", "dlib_resnet"]).name is None
    free = retrieval_net(None)
    assert free.independent and free.name == ("facenet" if facenet_here else "dlib_resnet")
    with pytest.raises(ValueError, match="unknown identity net"):
        retrieval_net("vgg19")


# ---- sharpness -------------------------------------------------------------------------------


def test_sharpness_ratio_is_one_for_the_target_and_low_for_a_blurred_output(portraits: dict) -> None:
    targets = np.stack([cv2.resize(p, (256, 256), interpolation=cv2.INTER_AREA) for p in portraits.values()])
    blurred = np.stack([cv2.GaussianBlur(t, (0, 0), 2.0) for t in targets])
    np.testing.assert_allclose(sharpness_ratio(targets, targets), 1.0)
    assert np.all(sharpness_ratio(blurred, targets) < 0.2)
    flat = np.full((1, 32, 32, 3), 128, np.uint8)
    assert laplacian_variance(flat)[0] == 0.0
    assert np.isnan(sharpness_ratio(targets[:1, :32, :32], flat)[0])
