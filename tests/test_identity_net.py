"""dlib's face ResNet ported to PyTorch against dlib itself; FaceNet's offline loading; the identity nets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dlib
import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image
from skimage import data

from faceoff.faces.detect import DlibHOGDetector, pick_face
from faceoff.faces.dlib_resnet import (
    DESCRIPTOR_DIM,
    DlibFormatError,
    DlibResNet,
    dlib_model_path,
    load_dlib_resnet,
    parse_dlib_net,
)
from faceoff.faces.facenet import FACENET_FILE, facenet_weights_path
from faceoff.faces.features import build_feature_net
from faceoff.faces.identity import DlibFaceEmbedder, FaceNetEmbedder, make_embedder
from faceoff.faces.identity_net import IDENTITY_NETS, build_identity_net
from faceoff.faces.landmarks import DlibLandmarker, shipped_dlib_model
from faceoff.synth.params import EXPRESSION_PRESETS, Lighting, Pose
from faceoff.synth.person_videos import person_identity
from faceoff.synth.render import render_face

CHIP = 150
IDENTITIES = 4


@pytest.fixture(scope="module")
def port() -> DlibResNet:
    return load_dlib_resnet()


@pytest.fixture(scope="module")
def dlib_model() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(dlib_model_path())


def _chip(image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
    """The aligned chip compute_face_descriptor(image, shape) would make."""
    return dlib.get_face_chip(image, shape, size=CHIP, padding=0.25)


def _real_chips() -> list[np.ndarray]:
    """Chips of the real photos installed in the venv: scikit-image's astronaut, matplotlib's Grace
    Hopper and a few of scikit-image's (25 px, upsampled) LFW faces, aligned by dlib's landmarks."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(shipped_dlib_model("pose_predictor_model_location"))
    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    lfw = [
        np.asarray(
            Image.fromarray((face * 255).astype(np.uint8)).resize((CHIP, CHIP), Image.BICUBIC).convert("RGB")
        )
        for face in data.lfw_subset()[:6]  # the first 100 are faces
    ]
    chips = []
    for image in [data.astronaut(), hopper, *lfw]:
        boxes, scores, _ = detector.run(image, 1)
        if boxes:
            chips.append(_chip(image, predictor(image, boxes[int(np.argmax(scores))])))
    assert len(chips) >= 6, "too few real faces detected"
    return chips


def _synthetic_chips() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Chips of rendered persons (neutral and happy), aligned by their exact landmarks; with the
    identity and expression index of each."""
    chips, who, expression = [], [], []
    for i in range(IDENTITIES):
        identity = person_identity(0, f"person{i}")
        for e, code in enumerate(("NE", "HA")):
            face = render_face(identity, EXPRESSION_PRESETS[code], Pose(), Lighting(), size=200)
            points = [dlib.point(round(float(x)), round(float(y))) for x, y in face.landmarks]
            shape = dlib.full_object_detection(dlib.rectangle(0, 0, 199, 199), points)
            chips.append(_chip(face.image, shape))
            who.append(i)
            expression.append(e)
    return chips, np.array(who), np.array(expression)


def _describe(port: DlibResNet, chips: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return port(torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()).numpy()


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_parse_reads_dlibs_face_resnet() -> None:
    net = parse_dlib_net(dlib_model_path())
    assert net.size == (CHIP, CHIP)
    np.testing.assert_allclose(net.mean, (122.782, 117.001, 104.298), atol=1e-3)
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con") == kinds.count("affine") == kinds.count("relu") == 29
    assert kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    stem = net.layers[0].config
    assert (stem["filters"], stem["nr"], stem["stride_y"], stem["pad_y"]) == (32, 7, 2, 0)


def test_parse_rejects_a_truncated_file(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(Path(dlib_model_path()).read_bytes()[:100_000])
    with pytest.raises(DlibFormatError, match="end of file"):
        parse_dlib_net(str(truncated))


@pytest.mark.parametrize("kind", ["real", "synthetic"])
def test_port_matches_dlib_on_the_same_chips(
    kind: str, port: DlibResNet, dlib_model: dlib.face_recognition_model_v1
) -> None:
    chips = _real_chips() if kind == "real" else _synthetic_chips()[0]
    ours = _describe(port, chips)
    theirs = np.array([dlib_model.compute_face_descriptor(chip) for chip in chips])
    assert ours.shape == (len(chips), DESCRIPTOR_DIM)
    assert _cosine(ours, theirs).min() > 0.999
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_metric_embedder_gives_dlibs_own_descriptors_on_real_faces(
    dlib_model: dlib.face_recognition_model_v1,
) -> None:
    """The evaluation's dlib_resnet descriptors (the port, batched, on dlib's chips) are what
    dlib's compute_face_descriptor(image, shape) returns, image by image, for real photos with
    landmarks given and predicted."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(shipped_dlib_model("pose_predictor_model_location"))
    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    crops, landmarks = [], []
    for image in (data.astronaut(), hopper):
        boxes, scores, _ = detector.run(image, 1)
        box = boxes[int(np.argmax(scores))]
        side = int(1.6 * max(box.width(), box.height()))
        cx, cy = box.center().x, box.center().y
        crop = np.ascontiguousarray(
            np.asarray(
                Image.fromarray(image).crop((cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2))
            )
        )
        crop = np.asarray(Image.fromarray(crop).resize((200, 200), Image.BICUBIC))
        shape = predictor(crop, dlib.rectangle(30, 30, 170, 170))
        crops.append(crop)
        landmarks.append([(p.x, p.y) for p in shape.parts()])
    images, points = np.stack(crops), np.array(landmarks, dtype=np.float32)
    given = DlibFaceEmbedder().embed(images, points)
    predicted = DlibFaceEmbedder().embed(images)
    hog, landmarker = DlibHOGDetector(upsample=0), DlibLandmarker()
    for i, image in enumerate(images):
        rect = dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)
        shape = dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in points[i]])
        np.testing.assert_allclose(given[i], dlib_model.compute_face_descriptor(image, shape), atol=1e-4)
        box = pick_face(hog.detect(image), image.shape).detection.box
        theirs = dlib_model.compute_face_descriptor(image, landmarker.shape(image, box))
        np.testing.assert_allclose(predicted[i], theirs, atol=1e-4)
    assert _cosine(given[:1], given[1:]).item() < 0.9  # two people: the descriptors tell them apart


def test_identities_differ_more_than_expressions(port: DlibResNet) -> None:
    """What the identity loss relies on: a new expression moves a face less than a new person does."""
    chips, who, expression = _synthetic_chips()
    d = _describe(port, chips)
    dist = np.linalg.norm(d[:, None] - d[None], axis=-1)
    for i in range(IDENTITIES):
        neutral, happy = (int(np.flatnonzero((who == i) & (expression == e))[0]) for e in (0, 1))
        for face, e in ((neutral, 0), (happy, 1)):
            others = (who != i) & (expression == e)
            assert dist[neutral, happy] < dist[face, others].min()


def test_identity_net_is_the_port_on_resized_crops(port: DlibResNet) -> None:
    """build_identity_net takes [-1, 1] crops of any size and resizes them to the 150 px input."""
    net = build_identity_net("dlib_resnet")
    chip = torch.from_numpy(_synthetic_chips()[0][0]).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        np.testing.assert_allclose(net(chip / 127.5 - 1), port(chip), atol=1e-4)
        small = net(torch.nn.functional.avg_pool2d(chip / 127.5 - 1, 2))
    assert small.shape == (1, DESCRIPTOR_DIM)
    assert _cosine(small.numpy(), port(chip).detach().numpy())[0] > 0.9


def test_identity_net_is_frozen_and_passes_gradients_to_the_input() -> None:
    net = build_identity_net("dlib_resnet")
    net.train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    target = net(x.detach().flip(-1))
    (net(x) - target).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_unknown_identity_net_is_rejected() -> None:
    assert IDENTITY_NETS == ("dlib_resnet", "facenet")
    with pytest.raises(ValueError, match="unknown identity net"):
        build_identity_net("arcface")
    with pytest.raises(ValueError, match="unknown identity embedder"):
        make_embedder("arcface")
    assert isinstance(make_embedder("dlib_resnet"), DlibFaceEmbedder)


def test_facenet_refuses_to_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        build_identity_net("facenet")
    message = str(error.value)
    assert FACENET_FILE in message and str(tmp_path / "checkpoints") in message
    assert "pretrained='vggface2'" in message


@pytest.fixture(scope="module")
def facenet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A TORCH_HOME holding randomly initialised FaceNet weights under the VGGFace2 file name, with
    the classifier the released checkpoint carries."""
    from facenet_pytorch import InceptionResnetV1

    home = tmp_path_factory.mktemp("torch_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        torch.manual_seed(0)
        state = InceptionResnetV1(pretrained=None, classify=False).state_dict()
        state["logits.weight"], state["logits.bias"] = torch.zeros(3, 512), torch.zeros(3)
        facenet_weights_path().parent.mkdir(parents=True)
        torch.save(state, facenet_weights_path())
        yield home


def test_facenet_loads_cached_weights_and_embeds(facenet_home: Path) -> None:
    net = build_identity_net("facenet")
    assert net.size == 160 and net.dim == 512
    x = (torch.rand(2, 3, 96, 96) * 2 - 1).requires_grad_(True)
    y = net(x)
    assert y.shape == (2, 512)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2))
    y[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0

    feats = build_feature_net("facenet")(x.detach())
    assert feats and feats[0].shape[1] == 64 and [f.shape[1] for f in feats[1:]] == [256, 896, 1792]
    assert feats[0].shape[-1] > feats[-1].shape[-1]


def test_facenet_embedder_aligns_and_embeds(facenet_home: Path) -> None:
    embedder = make_embedder("facenet")
    assert isinstance(embedder, FaceNetEmbedder)
    faces = [
        render_face(person_identity(0, f"person{i}"), EXPRESSION_PRESETS["NE"], Pose(), Lighting(), 96)
        for i in range(2)
    ]
    emb = embedder.embed(np.stack([f.image for f in faces]), np.stack([f.landmarks for f in faces]))
    assert emb.shape == (2, 512) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_facenet_weights_path_is_where_facenet_pytorch_caches(monkeypatch, tmp_path: Path) -> None:
    """Found without importing facenet-pytorch, yet the folder its load_weights writes to."""
    from facenet_pytorch.models.inception_resnet_v1 import get_torch_home

    for home in (None, tmp_path / "torch-home"):
        if home is None:
            monkeypatch.delenv("TORCH_HOME", raising=False)
        else:
            monkeypatch.setenv("TORCH_HOME", str(home))
        assert facenet_weights_path() == Path(get_torch_home()) / "checkpoints" / FACENET_FILE
