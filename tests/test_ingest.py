"""Ingestion: folders and archives in, malicious archives refused, layouts checked, DVC registration."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from faceoff.datasets.archive import UnsafeArchiveError, safe_extract
from faceoff.datasets.ingest import ingest
from faceoff.datasets.registry import DatasetError
from faceoff.synth.formats import write_jaffe

DVC = Path(sys.executable).with_name("dvc")


@pytest.fixture(scope="module")
def jaffe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw") / "jaffe"
    write_jaffe(out, n_frames=2, size=32)
    return out


def _zip(path: Path, folder: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, prefix + file.relative_to(folder).as_posix())
    return path


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_ingest_a_folder(jaffe_dir: Path, tmp_path: Path) -> None:
    report = ingest("jaffe", jaffe_dir, tmp_path / "data" / "jaffe", dvc=False)
    assert report["layout"]["images"] == 14 and report["files"] == 16  # + README, annotations
    assert (tmp_path / "data" / "jaffe" / "KA.AN1.1.tiff").is_file()
    assert "switched off" in report["dvc"]["reason"]
    with pytest.raises(DatasetError, match="already exists"):
        ingest("jaffe", jaffe_dir, tmp_path / "data" / "jaffe", dvc=False)
    assert ingest("jaffe", tmp_path / "data" / "jaffe", tmp_path / "data" / "jaffe", dvc=False)["layout"]


def test_ingest_a_zip_with_a_top_folder_and_a_tar_gz(jaffe_dir: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "jaffe.zip", jaffe_dir, prefix="jaffe/")
    assert ingest("jaffe", archive, tmp_path / "a", dvc=False)["archive"]
    assert (tmp_path / "a" / "README_FIRST.txt").is_file()
    with tarfile.open(tmp_path / "jaffe.tar.gz", "w:gz") as tf:
        tf.add(jaffe_dir, arcname=".")
    assert ingest("jaffe", tmp_path / "jaffe.tar.gz", tmp_path / "b", dvc=False)["layout"]["images"] == 14


def test_a_wrong_layout_names_what_is_missing(jaffe_dir: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "jaffe.zip", jaffe_dir, prefix="jaffe/")
    with pytest.raises(DatasetError, match="no NNN/ video folder"):
        ingest("300vw", archive, tmp_path / "vw", dvc=False)
    with pytest.raises(DatasetError, match=r"photos/ or .*photo/ not found"):
        ingest("portraits", jaffe_dir, tmp_path / "pt", dvc=False)
    assert not (tmp_path / "vw").exists() and not (tmp_path / "pt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["jaffe.zip"]  # no staging folder left behind


def test_corrupt_archive_is_a_clear_error(jaffe_dir: Path, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "jaffe.zip", jaffe_dir)
    (tmp_path / "cut.zip").write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DatasetError, match=r"cut\.zip"):
        ingest("jaffe", tmp_path / "cut.zip", tmp_path / "x", dvc=False)
    (tmp_path / "cut.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    with pytest.raises(DatasetError, match=r"cut\.tar\.gz"):
        ingest("jaffe", tmp_path / "cut.tar.gz", tmp_path / "x", dvc=False)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../evil.txt", "contains '..'"),
        ("/tmp/evil.txt", "absolute path"),
        ("ok/../../evil.txt", "contains '..'"),
    ],
)
def test_malicious_zip_names_are_refused(tmp_path: Path, name: str, expected: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "fine")
        zf.writestr(zipfile.ZipInfo(name), "evil")
    with pytest.raises(UnsafeArchiveError, match=expected):
        safe_extract(archive, tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())  # checked before anything is written


def test_zip_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("data/link")
        info.external_attr = (0o120777 << 16) | 0x20
        zf.writestr(info, "../../outside")
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        safe_extract(archive, tmp_path / "out")


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (_member("../evil.txt"), "contains '..'"),
        (_member("/tmp/evil.txt"), "absolute path"),
        (_member("data/link", tarfile.SYMTYPE, "/etc/passwd"), "absolute path '/etc/passwd'"),
        (_member("data/link", tarfile.SYMTYPE, "../../outside"), "points outside"),
        (_member("data/hard", tarfile.LNKTYPE, "../outside"), "points outside"),
        (_member("data/dev", tarfile.CHRTYPE), "device or FIFO"),
    ],
)
def test_malicious_tar_members_are_refused(tmp_path: Path, member: tarfile.TarInfo, expected: str) -> None:
    data = b"evil" if member.isfile() else None
    archive = _tar(tmp_path / "bad.tar.gz", [(_member("fine.txt"), b"fine"), (member, data)])
    with pytest.raises(UnsafeArchiveError, match=expected):
        ingest("jaffe", archive, tmp_path / "dest", dvc=False)
    assert not (tmp_path / "dest").exists() and not (tmp_path / "evil.txt").exists()


def test_links_inside_the_archive_are_fine(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "ok.tar.gz",
        [(_member("a/file.txt"), b"x"), (_member("a/link", tarfile.SYMTYPE, "file.txt"), None)],
    )
    assert safe_extract(archive, tmp_path / "out") == 1
    assert (tmp_path / "out" / "a" / "link").read_text() == "x"


def test_dvc_add_in_a_dvc_repository(jaffe_dir: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([str(DVC), "init", "-q"], cwd=repo, check=True)
    report = ingest("jaffe", jaffe_dir, repo / "data" / "raw" / "jaffe")
    assert report["dvc"]["added"] and (repo / "data" / "raw" / "jaffe.dvc").is_file()
    assert "/jaffe" in (repo / "data" / "raw" / ".gitignore").read_text()


def test_no_dvc_repository_is_a_message_not_a_failure(jaffe_dir: Path, tmp_path: Path) -> None:
    report = ingest("jaffe", jaffe_dir, tmp_path / "jaffe")
    assert not report["dvc"]["added"] and "no DVC repository" in report["dvc"]["reason"]


def test_cli_ingests_a_zip_of_person_videos_in_a_top_folder(tmp_path: Path) -> None:
    """`faceoff ingest videos`: a top folder and macOS debris around the videos are not persons."""
    from faceoff.cli import main
    from faceoff.synth.formats import SYNTH_WRITERS

    videos = tmp_path / "persons"
    SYNTH_WRITERS["person_videos"](
        videos, items=["A", "B"], n_frames=8, size=48, fps=25, seed=0, ground_truth_pairs=[]
    )
    archive = _zip(tmp_path / "persons.zip", videos, prefix="persons/")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/persons/._A.mp4", b"resource fork")
    dest = tmp_path / "raw"
    assert main(["ingest", "videos", str(archive), "--dest", str(dest), "--no-dvc"]) == 0
    assert (dest / "A.mp4").is_file() and (dest / "B.mp4").is_file()
    assert ingest("person_videos", dest, dest, dvc=False)["layout"]["items"] == ["A", "B"]
