"""Readers of the real dataset layouts, on synthetic data written in those layouts, and broken copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceoff.config.load import ConfigError, validate
from faceoff.datasets import ffpp, jaffe, portraits, vw300
from faceoff.datasets.prepared import PreparedSplit, load_split, save_split
from faceoff.datasets.registry import DatasetError, all_kinds, get_kind
from faceoff.prepare import PrepareError
from faceoff.prepare.registry import prepare_item
from faceoff.prepare.vw300 import clipped_square
from faceoff.synth.spec import SynthSpec

SIZE = 64
ANNOTATED = {"size": 32, "detector": "annotations", "landmarks": "annotations"}


def _write(root: Path, kind: str, items: list[str], n: int, pairs: tuple[tuple[str, str], ...] = ()) -> Path:
    out = root / kind
    get_kind(kind).synth(
        out, SynthSpec(items=items, n_frames=n, size=SIZE, fps=25, seed=0, ground_truth_pairs=pairs)
    )
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("raw")
    return {
        "jaffe": _write(root, "jaffe", ["NE", "HA"], 4, (("NE", "HA"),)),
        "300vw": _write(root, "300vw", ["001", "114", "203"], 12),
        "portraits": _write(root, "portraits", ["photo", "painting"], 8),
        "ffpp": _write(root, "ffpp", ["000", "001", "002", "003"], 10, (("000", "001"),)),
    }


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


# --- registry -------------------------------------------------------------------------------------


ITEMS = {"jaffe": ["NE", "HA"], "300vw": ["001", "203"], "portraits": ["photo", "painting"], "ffpp": ["000"]}


def test_every_kind_is_registered_with_a_writer() -> None:
    """Each kind module of the package registers itself, its preparer and its synthetic writer."""
    kinds = {name: kind for name, kind in all_kinds().items() if kind.synth.__module__.startswith("faceoff.")}
    assert set(kinds) == {"person_videos", "jaffe", "300vw", "portraits", "ffpp"}
    assert all(kind.preparer().__module__.startswith("faceoff.prepare.") for kind in kinds.values())
    with pytest.raises(DatasetError, match="unknown dataset kind 'vox' \\(choose from 300vw, ffpp, jaffe, "):
        get_kind("vox")


@pytest.mark.parametrize("kind", sorted(ITEMS))
def test_item_inputs_exist_and_nothing_is_missing(data: dict[str, Path], kind: str) -> None:
    spec = get_kind(kind)
    for item in ITEMS[kind]:
        inputs = spec.item_inputs(data[kind], item)
        assert inputs and all(p.exists() for p in inputs)
    assert spec.missing(data[kind], ITEMS[kind]) == []
    assert spec.validate(data[kind])


@pytest.mark.parametrize("kind", sorted(ITEMS))
def test_missing_names_the_absent_path(tmp_path: Path, kind: str) -> None:
    spec = get_kind(kind)
    assert str(tmp_path / "nowhere") in spec.missing(tmp_path / "nowhere", ITEMS[kind])[0]
    (tmp_path / "empty").mkdir()
    messages = spec.missing(tmp_path / "empty", ITEMS[kind])
    assert messages and all(str(tmp_path / "empty") in m or "JAFFE item" in m for m in messages)
    with pytest.raises(DatasetError):
        spec.validate(tmp_path / "empty")


def test_person_videos_fit_the_registry(tmp_path: Path) -> None:
    get_kind("person_videos").synth(
        tmp_path, SynthSpec(items=["A", "B"], n_frames=6, size=SIZE, ground_truth_pairs=[("A", "B")])
    )
    spec = get_kind("person_videos")
    assert spec.item_inputs(tmp_path, "A") == [tmp_path / "A.mp4"]
    assert spec.missing(tmp_path, ["A", "C"]) == [spec.missing(tmp_path, ["C"])[0]]
    assert spec.validate(tmp_path) == {"items": ["A", "B"]}
    assert spec.groundtruth(tmp_path, "A", ["B", "C"]) == {"B": tmp_path / "groundtruth" / "A_as_B.mp4"}


def test_prepared_val_split_and_extra_arrays_round_trip(tmp_path: Path) -> None:
    split = PreparedSplit(
        frames=np.zeros((2, 8, 8, 3), np.uint8),
        landmarks=np.zeros((2, 68, 2), np.float32),
        masks=np.zeros((2, 8, 8), np.uint8),
        index=np.arange(2),
        extra={"labels": np.array([3, 4]), "subjects": np.array(["KA", "KL"])},
    )
    save_split(tmp_path, "val", split)
    back = load_split(tmp_path, "val")
    assert back.extra["labels"].tolist() == [3, 4] and back.extra["subjects"].tolist() == ["KA", "KL"]
    split.extra["labels"] = np.array([1])
    with pytest.raises(Exception, match="labels"):
        save_split(tmp_path, "bad", split)


PREPARE = {
    "jaffe": {"size": 64, "test_subjects": ["KA", "KL"], "val_subjects": 1},
    "300vw": {"size": 64, "crop_scale": 1.4, "fps": None},
    "portraits": {"size": 64, "split": {"train": 1000, "val": 500, "test": 500}, "seed": 3},
    "ffpp": {"size": 64, "quality": "c40", "split": {"train": 2000, "test": 200}},
}


@pytest.mark.parametrize("kind", sorted(PREPARE))
def test_schema_accepts_each_kinds_settings(kind: str) -> None:
    dataset = {"kind": kind, "source": "data/raw/x", "items": ITEMS[kind], "prepare": PREPARE[kind]}
    validate({"output_dir": "results/x", "datasets": {"x": dataset}, "families": {}})
    with pytest.raises(ConfigError, match="quality"):
        validate(
            {"output_dir": "r", "datasets": {"x": {**dataset, "prepare": {"quality": "c99"}}}, "families": {}}
        )


# --- JAFFE ----------------------------------------------------------------------------------------


def test_jaffe_names_parse_or_are_rejected() -> None:
    parsed = jaffe.parse_name(Path("KA.AN1.39.tiff"))
    assert parsed is not None and (parsed.subject, parsed.expression, parsed.n, parsed.id) == (
        "KA",
        "AN",
        1,
        39,
    )
    for bad in ("KA.XX1.39.tiff", "KA_AN1_39.tiff", "KA.AN.39.tiff", "README.tiff"):
        assert jaffe.parse_name(Path(bad)) is None


def test_jaffe_scan_reads_the_flat_folder(data: dict[str, Path]) -> None:
    found = jaffe.scan(data["jaffe"])
    assert len(found.images) == 4 * 7 and found.skipped == {}
    assert found.ignored == ["README_FIRST.txt"]
    channels = {Image.open(i.path).mode for i in found.images}
    assert channels == {"L", "RGB"}  # the writer's one 3-channel file
    for image in found.images:
        gray = jaffe.read_gray(image.path)
        assert gray.shape == (SIZE, SIZE) and gray.dtype == np.uint8


def test_jaffe_subject_splits_are_disjoint() -> None:
    subjects = ["KA", "KL", "KM", "KR", "MK"]
    split = jaffe.split_subjects(subjects, 2, 1)
    assert split == {"train": ["KA", "KL"], "test": ["KR", "MK"], "val": ["KM"]}
    assert jaffe.split_subjects(subjects, ["KA"])["test"] == ["KA"]
    with pytest.raises(DatasetError, match="ZZ"):
        jaffe.split_subjects(subjects, ["ZZ"])


def test_jaffe_prepare_labels_subjects_and_groundtruth(data: dict[str, Path], tmp_path: Path) -> None:
    gt = get_kind("jaffe").groundtruth(data["jaffe"], "NE", ["HA", "SA"])
    assert list(gt) == ["HA"]
    report = prepare_item("jaffe", data["jaffe"], "NE", tmp_path / "NE", ANNOTATED, gt, progress=False)
    train, test = (load_split(tmp_path / "NE", s) for s in ("train", "test"))
    assert (len(train), len(test)) == (2, 2) and report["skipped"] == {}
    assert set(train.extra["subjects"]).isdisjoint(test.extra["subjects"])
    assert set(train.extra["labels"]) == {jaffe.EXPRESSIONS.index("NE")}
    assert train.gt["HA"].shape == train.frames.shape == (2, 32, 32, 3)
    assert (train.frames[..., 0] == train.frames[..., 2]).all()  # grayscale in RGB
    assert (train.landmarks >= 0).all() and (train.landmarks <= 32).all()


def test_jaffe_prepare_with_the_face_detector(data: dict[str, Path], tmp_path: Path) -> None:
    """The real backends (MTCNN + dlib) find the synthetic grayscale faces too."""
    report = prepare_item("jaffe", data["jaffe"], "HA", tmp_path / "HA", {"size": 32}, progress=False)
    assert report["split"] == {"train": 2, "test": 2} and report["skipped"] == {}


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_jaffe_bad_files_are_reported_and_skipped(data: dict[str, Path], tmp_path: Path) -> None:
    source = _copy(data["jaffe"], tmp_path)
    (source / "KA.XX1.90.tiff").write_bytes(b"whatever")
    (source / "KA.NE7.91.tiff").write_bytes(b"")
    (source / "KL.NE7.92.tiff").write_bytes(b"II*\x00 truncated tiff")
    report = prepare_item("jaffe", source, "NE", tmp_path / "NE", ANNOTATED, progress=False)
    skipped = report["skipped_files"]
    assert "does not parse" in skipped[str(source / "KA.XX1.90.tiff")]
    assert "0 bytes" in skipped[str(source / "KA.NE7.91.tiff")]
    assert "not a readable image" in skipped[str(source / "KL.NE7.92.tiff")]
    assert sum(report["skipped"].values()) == 3 and report["split"] == {"train": 2, "test": 2}


def test_jaffe_nothing_usable_is_a_clear_error(data: dict[str, Path], tmp_path: Path) -> None:
    source = _copy(data["jaffe"], tmp_path)
    for image in jaffe.scan(source).images:
        if image.expression == "NE":
            image.path.write_bytes(b"")
    with pytest.raises(PrepareError, match="no usable NE image"):
        prepare_item("jaffe", source, "NE", tmp_path / "out", ANNOTATED, progress=False)
    (source / "annotations.json").unlink()
    with pytest.raises(PrepareError, match=r"annotations\.json: landmark annotations not found"):
        prepare_item("jaffe", source, "HA", tmp_path / "out", ANNOTATED, progress=False)
    assert not (tmp_path / "out").exists()


# --- 300VW ----------------------------------------------------------------------------------------


def _pts(points: np.ndarray, version: str = "1") -> str:
    return f"version: {version}\nn_points:  68\n{{\n" + "".join(f"{x} {y}\n" for x, y in points) + "}\n"


def test_pts_is_one_based_in_both_versions(tmp_path: Path) -> None:
    points = np.arange(136, dtype=np.float32).reshape(68, 2) + 1
    for version in ("1", "1.0"):
        (tmp_path / "a.pts").write_text(_pts(points, version))
        np.testing.assert_array_equal(vw300.read_pts(tmp_path / "a.pts"), points - 1)
    (tmp_path / "b.pts").write_text(_pts(points[:66]).replace("68", "66", 1))
    with pytest.raises(vw300.PtsError, match=r"b\.pts: 66 points"):
        vw300.read_pts(tmp_path / "b.pts")


def test_300vw_synthetic_pts_match_the_rendered_faces(data: dict[str, Path]) -> None:
    found = vw300.read_annotations(data["300vw"] / "114")
    assert found.landmarks.shape == (12, 68, 2) and not found.bad and not found.gaps
    assert "version: 1.0" in (data["300vw"] / "114" / "annot" / "000001.pts").read_text()
    assert len(vw300.read_annotations(data["300vw"] / "203").files) == 10  # fewer than the 12 frames


def test_300vw_official_split() -> None:
    assert vw300.official_split("001") == ("train", "train")
    assert vw300.official_split("114") == ("test", "test1")
    assert vw300.official_split("562") == ("test", "test3")
    assert sum(c == "train" for c in vw300.CATEGORY.values()) == 50
    assert [sum(c == f"test{k}" for c in vw300.CATEGORY.values()) for k in (1, 2, 3)] == [31, 19, 14]


def test_clipped_square_stays_in_the_frame() -> None:
    corner = np.array([[0.0, 0.0], [30.0, 40.0]])
    x0, y0, x1, y1 = clipped_square(corner, 1.5, (100, 200, 3))
    assert (x0, y0) == (0.0, 0.0) and x1 - x0 == y1 - y0 == 60.0
    assert clipped_square(corner, 5.0, (100, 200, 3))[3] == 100.0


def test_300vw_prepare_drops_unannotated_frames(data: dict[str, Path], tmp_path: Path) -> None:
    report = prepare_item("300vw", data["300vw"], "203", tmp_path / "203", {"size": 32}, progress=False)
    assert report["split"] == "test" and report["category"] == "test2"
    assert report["frames_decoded"] == 12 and report["frames_kept"] == 10
    assert report["frames_dropped"]["after_last_annotation"] == 2 and report["count_mismatch"]
    test = load_split(tmp_path / "203", "test")
    assert len(test) == 10 and (test.landmarks >= 0).all() and (test.landmarks <= 32).all()
    assert not (tmp_path / "203" / "train").exists()


def test_300vw_bad_pts_are_skipped_and_reported(data: dict[str, Path], tmp_path: Path) -> None:
    source = _copy(data["300vw"], tmp_path)
    bad = source / "001" / "annot" / "000003.pts"
    bad.write_text("version: 1\nn_points:  68\n{\n1 2\n}\n")
    (source / "001" / "annot" / "000005.pts").unlink()
    report = prepare_item("300vw", source, "001", tmp_path / "001", {"size": 32}, progress=False)
    assert str(bad) in report["bad_annotations"] and report["annotation_gaps"] == [5]
    assert report["frames_dropped"]["bad_or_missing_annotation"] == 2 and report["frames_kept"] == 10
    assert len(load_split(tmp_path / "001", "train")) == 10


def test_300vw_annotations_beyond_the_video_and_empty_pts(data: dict[str, Path], tmp_path: Path) -> None:
    """More .pts files than frames: reported, never a crash; a zero-byte .pts is a bad annotation."""
    source = _copy(data["300vw"], tmp_path)
    annot = source / "001" / "annot"
    for extra in ("000013.pts", "000014.pts"):  # the video has 12 frames
        (annot / extra).write_text((annot / "000001.pts").read_text())
    (annot / "000002.pts").write_bytes(b"")
    report = prepare_item("300vw", source, "001", tmp_path / "001", {"size": 32}, progress=False)
    assert (
        report["annotations_without_frame"] == 2 and "annotations up to frame 14" in report["count_mismatch"]
    )
    assert str(annot / "000002.pts") in report["bad_annotations"]
    assert report["frames_kept"] == 11 and len(load_split(tmp_path / "001", "train")) == 11


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_300vw_broken_video_is_a_clear_error(data: dict[str, Path], tmp_path: Path, damage: str) -> None:
    source = _copy(data["300vw"], tmp_path)
    video = source / "001" / "vid.avi"
    content = video.read_bytes()
    video.write_bytes({"empty": b"", "garbage": b"\x00not a video" * 50, "truncated": content[:300]}[damage])
    with pytest.raises(PrepareError, match=str(video)):
        prepare_item("300vw", source, "001", tmp_path / "out", {"size": 32}, progress=False)
    assert not (tmp_path / "out").exists()


# --- portraits ------------------------------------------------------------------------------------


def test_portrait_scan_finds_nested_mixed_files_and_drops_duplicates(data: dict[str, Path]) -> None:
    found = portraits.scan(data["portraits"] / "paintings")
    assert len(found.files) == 8 and len(found.duplicates) == 2
    assert {p.suffix for p in found.files} == {".jpg", ".png", ".jpeg", ".JPG"}
    assert any(len(p.relative_to(data["portraits"] / "paintings").parts) == 3 for p in found.files)
    assert portraits.domain_dir(data["portraits"], "photo").name == "photos"


def test_portrait_splits_are_seeded_and_shrink() -> None:
    files = [Path(f"{k}.jpg") for k in range(30)]
    drawn, info = portraits.split_files(files, {"train": 10, "val": 5, "test": 5}, seed=1)
    assert [len(drawn[s]) for s in ("train", "val", "test")] == [10, 5, 5] and not info["shrunk"]
    assert drawn == portraits.split_files(files, {"train": 10, "val": 5, "test": 5}, seed=1)[0]
    assert len({p for s in drawn.values() for p in s}) == 20
    drawn, info = portraits.split_files(files[:8], portraits.DEFAULT_SPLIT)
    assert info["shrunk"] and sum(len(v) for v in drawn.values()) == 8


def test_portrait_prepare_reports_duplicates_and_bad_images(data: dict[str, Path], tmp_path: Path) -> None:
    source = _copy(data["portraits"], tmp_path)
    (source / "photos" / "set_a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (source / "photos" / "empty.png").write_bytes(b"")
    settings = {**ANNOTATED, "split": {"train": 5, "val": 2, "test": 2}}
    report = prepare_item("portraits", source, "photo", tmp_path / "photo", settings, progress=False)
    assert report["duplicates_dropped"] == 2
    assert "0 bytes" in report["skipped_files"][str(source / "photos" / "empty.png")]
    assert "not a readable image" in report["skipped_files"][str(source / "photos" / "set_a" / "broken.jpg")]
    assert report["skipped"] == {"empty file": 1, "not a readable image": 1}
    kept = {s: len(load_split(tmp_path / "photo", s)) for s in ("train", "val", "test")}
    assert sum(kept.values()) == 8  # 9 unique non-empty files drawn, the broken one skipped


def test_portrait_with_several_faces_keeps_one_and_says_so(tmp_path: Path) -> None:
    """dlib's HOG also fires on the astronaut's suit: the face is cropped, the image counted."""
    from PIL import Image
    from skimage import data as skdata

    for domain in ("photos", "paintings"):
        (tmp_path / domain).mkdir()
        for k in range(3):  # shifted copies: distinct files, not duplicates
            Image.fromarray(np.roll(skdata.astronaut(), 2 * k, axis=1)).save(tmp_path / domain / f"a{k}.png")
    settings = {"size": 32, "detector": "dlib", "split": {"train": 1, "val": 1, "test": 1}}
    report = prepare_item("portraits", tmp_path, "photo", tmp_path / "photo", settings, progress=False)
    assert report["several_faces_kept_one"] == len(report["several_faces_files"]) >= 2
    assert report["skipped"] == {}
    centre = load_split(tmp_path / "photo", "train").landmarks.mean(axis=1)
    assert np.abs(centre - 16).max() < 4  # on the face, in the middle of the crop


# --- FaceForensics++ ------------------------------------------------------------------------------


def test_ffpp_splits_put_both_ids_of_a_pair_in_one_split(data: dict[str, Path], tmp_path: Path) -> None:
    assert ffpp.read_splits(data["ffpp"]) == {"000": "train", "001": "train", "002": "val", "003": "val"}
    source = tmp_path / "ff"
    (source / "splits").mkdir(parents=True)
    for name, pairs in {"train": [["071", "054"]], "val": [["054", "100"]], "test": []}.items():
        (source / "splits" / f"{name}.json").write_text(json.dumps(pairs))
    with pytest.raises(DatasetError, match="054 is also in the train"):
        ffpp.read_splits(source)
    (source / "splits" / "val.json").write_text('{"071": 1}')
    with pytest.raises(DatasetError, match=r"val\.json"):
        ffpp.read_splits(source)


def test_ffpp_quality_selects_the_folder(data: dict[str, Path]) -> None:
    spec = get_kind("ffpp")
    assert spec.item_inputs(data["ffpp"], "000")[0].parts[-5:] == (
        "original_sequences",
        "youtube",
        "c23",
        "videos",
        "000.mp4",
    )
    assert "c40" in spec.missing(data["ffpp"], ["000"], {"quality": "c40"})[0]
    assert spec.validate(data["ffpp"]) == {"videos": {"c23": 4}, "splits": {"train": 2, "val": 2, "test": 0}}


def test_ffpp_prepare_is_a_person_video_with_its_official_split(
    data: dict[str, Path], tmp_path: Path
) -> None:
    gt = get_kind("ffpp").groundtruth(data["ffpp"], "000", ["001"])
    settings = {**ANNOTATED, "split": {"train": 6, "test": 4}, "quality": "c23"}
    report = prepare_item("ffpp", data["ffpp"], "000", tmp_path / "000", settings, gt, progress=False)
    assert report["official_split"] == "train" and report["quality"] == "c23"
    assert json.loads((tmp_path / "000" / "report.json").read_text())["official_split"] == "train"
    assert load_split(tmp_path / "000", "test").gt["001"].shape == (4, 32, 32, 3)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_ffpp_broken_video_is_a_clear_error(data: dict[str, Path], tmp_path: Path, damage: str) -> None:
    source = _copy(data["ffpp"], tmp_path)
    video = ffpp.video_path(source, "001")
    content = video.read_bytes()
    video.write_bytes({"empty": b"", "garbage": b"\x00not a video" * 50, "truncated": content[:300]}[damage])
    settings = {**ANNOTATED, "split": {"train": 6, "test": 4}}
    with pytest.raises(PrepareError, match=str(video)):
        prepare_item("ffpp", source, "001", tmp_path / "out", settings, progress=False)
    assert not (tmp_path / "out").exists()
