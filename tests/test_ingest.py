"""Ingestion: folders and archives in, malicious archives refused, layouts checked, every file
read, DVC registration in a fresh copy of the project."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from faceoff.config import load_params
from faceoff.datasets.archive import UnsafeArchiveError, safe_extract
from faceoff.datasets.check import ContentError, data_files
from faceoff.datasets.ingest import ingest
from faceoff.datasets.registry import DatasetError, get_kind
from faceoff.synth.formats import FFPP_VIDEOS, write_jaffe
from faceoff.synth.spec import SynthSpec

from .pipeline import BIN, REPO, copy_workflow, env, run

DVC = Path(sys.executable).with_name("dvc")


@pytest.fixture(scope="module")
def jaffe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw") / "jaffe"
    write_jaffe(out, SynthSpec(items=(), n_frames=2, size=32))
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
    assert report["content"]["read"] == {"image": 14, "json": 1} and report["content"]["not_read"] == 1
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
    assert report["dvc"]["staged"] == ["data/raw/jaffe.dvc", "data/raw/.gitignore"]
    staged = run(["git", "diff", "--cached", "--name-only"], repo).stdout.split()
    assert {"data/raw/jaffe.dvc", "data/raw/.gitignore"} <= set(staged)


def test_no_dvc_repository_is_a_message_not_a_failure(jaffe_dir: Path, tmp_path: Path) -> None:
    report = ingest("jaffe", jaffe_dir, tmp_path / "jaffe")
    assert not report["dvc"]["added"] and "no DVC repository" in report["dvc"]["reason"]


def test_cli_ingests_a_zip_of_person_videos_in_a_top_folder(tmp_path: Path) -> None:
    """`faceoff ingest videos`: a top folder and macOS debris around the videos are not persons."""
    from faceoff.cli import main

    videos = tmp_path / "persons"
    get_kind("person_videos").synth(
        videos, SynthSpec(items=["A", "B"], n_frames=8, size=48, fps=25, seed=0, ground_truth_pairs=[])
    )
    archive = _zip(tmp_path / "persons.zip", videos, prefix="persons/")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/persons/._A.mp4", b"resource fork")
    dest = tmp_path / "raw"
    assert main(["ingest", "videos", str(archive), "--dest", str(dest), "--no-dvc"]) == 0
    assert (dest / "A.mp4").is_file() and (dest / "B.mp4").is_file()
    assert ingest("person_videos", dest, dest, dvc=False)["layout"]["items"] == ["A", "B"]


# --- Every kind, end to end with DVC, at the default destination of a fresh copy of the project ---

CLI_KINDS = {
    "videos": "person_videos",
    "portraits": "portraits",
    "jaffe": "jaffe",
    "300vw": "300vw",
    "ffpp": "ffpp",
}
ITEMS = {
    "person_videos": ["A", "B"],
    "portraits": ["photo", "painting"],
    "jaffe": ["NE", "HA"],
    "300vw": ["001", "002"],
    "ffpp": ["071", "054", "003"],
}


def _render(kind: str, out: Path, n_frames: int = 6, size: int = 32) -> Path:
    get_kind(kind).synth(
        out, SynthSpec(items=ITEMS[kind], n_frames=n_frames, size=size, fps=25, seed=0, ground_truth_pairs=[])
    )
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone, as a new user has it: the project's files and ignore rules, git and DVC initialised."""
    work = copy_workflow(tmp_path_factory.mktemp("clone"))
    run(["git", "init", "-q"], work)
    run([str(DVC), "init", "-q"], work)
    return work


def _default_dest(kind: str) -> str:
    sources = [
        ds["source"] for ds in load_params([REPO / "params.yaml"])["datasets"].values() if ds["kind"] == kind
    ]
    assert len(sources) == 1
    return sources[0]


def _faceoff(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "faceoff"), *args], cwd=cwd, env=env(), capture_output=True, text=True)


@pytest.mark.parametrize("cli_kind", list(CLI_KINDS))
def test_ingest_registers_every_kind_with_dvc_in_a_fresh_clone(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_kind: str
) -> None:
    """`faceoff ingest KIND PATH` run from the clone's root (in this process: its start-up is slow)."""
    from faceoff.cli import main

    kind = CLI_KINDS[cli_kind]
    raw = _render(kind, tmp_path / "download")
    monkeypatch.chdir(project)
    assert main(["ingest", cli_kind, str(raw)]) == 0
    dest = project / _default_dest(kind)
    dvc_file = dest.with_name(f"{dest.name}.dvc").relative_to(project).as_posix()
    # The .dvc file is staged in git and not ignored; the data is ignored by git and held by DVC.
    assert run(["git", "ls-files", "--error-unmatch", dvc_file], project).stdout.strip() == dvc_file
    assert subprocess.run(["git", "check-ignore", "-q", dvc_file], cwd=project).returncode == 1
    some_file = data_files(dest)[0].relative_to(project).as_posix()
    assert subprocess.run(["git", "check-ignore", "-q", some_file], cwd=project).returncode == 0
    out = yaml.safe_load((project / dvc_file).read_text())["outs"][0]
    cache = project / ".dvc" / "cache" / "files" / "md5"
    listing = json.loads((cache / out["md5"][:2] / out["md5"][2:]).read_text())
    assert {e["relpath"] for e in listing} == {p.relative_to(dest).as_posix() for p in data_files(dest)}
    assert all((cache / e["md5"][:2] / e["md5"][2:]).is_file() for e in listing)
    assert json.loads(run([str(DVC), "status", "--json", dvc_file], project).stdout) == {}


# --- Corrupt input: every unreadable file is named with its problem, counted, and nothing lands ---


def _content_error(kind: str, raw: Path, dest: Path) -> ContentError:
    with pytest.raises(ContentError) as caught:
        ingest(kind, raw, dest, dvc=False)
    assert not dest.exists()
    return caught.value


def test_empty_and_undecodable_images_are_named_and_counted(tmp_path: Path) -> None:
    raw = _render("portraits", tmp_path / "portraits")
    (raw / "photos" / "empty.jpg").write_bytes(b"")
    (raw / "paintings" / "set_a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (raw / "paintings" / "set_a" / "empty_too.png").write_bytes(b"")
    error = _content_error("portraits", raw, tmp_path / "dest")
    assert error.report.counts() == {"empty file": 2, "undecodable image": 1}
    message = str(error)
    assert "3 unusable files (empty file: 2, undecodable image: 1)" in message
    assert "photos/empty.jpg: empty file" in message
    assert "paintings/set_a/broken.png: undecodable image" in message
    assert str(tmp_path / "dest") not in message and ".ingest." not in message  # no staging paths


def test_a_truncated_jaffe_tiff_is_undecodable(tmp_path: Path) -> None:
    raw = tmp_path / "jaffe"
    write_jaffe(raw, SynthSpec(items=(), n_frames=2, size=32))
    tiff = sorted(raw.glob("*.HA*.tiff"))[0]
    tiff.write_bytes(tiff.read_bytes()[: tiff.stat().st_size // 2])
    error = _content_error("jaffe", raw, tmp_path / "dest")
    assert error.report.counts() == {"undecodable image": 1}
    assert f"{tiff.name}: undecodable image" in str(error)


def test_videos_cut_in_half_are_reported(tmp_path: Path) -> None:
    """An .mp4 whose index sat at its end no longer opens; an .avi cut short decodes too few frames."""
    persons = _render("person_videos", tmp_path / "persons", n_frames=30)
    video = persons / "B.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    error = _content_error("person_videos", persons, tmp_path / "dest_persons")
    assert error.report.counts() == {"undecodable video": 1}
    assert "B.mp4: undecodable video" in str(error)

    vw = _render("300vw", tmp_path / "vw", n_frames=30, size=128)  # its half holds more than the header
    avi = vw / "001" / "vid.avi"
    avi.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    error = _content_error("300vw", vw, tmp_path / "dest_vw")
    assert error.report.counts() == {"truncated video": 1}
    assert "001/vid.avi: truncated video" in str(error) and "of the 30 frames it declares" in str(error)


def test_malformed_pts_files_are_named_and_counted(tmp_path: Path) -> None:
    raw = _render("300vw", tmp_path / "vw")
    annot = raw / "001" / "annot"
    good = (annot / "000001.pts").read_text().splitlines()
    (annot / "000002.pts").write_text("\n".join([*good[:-2], "}"]) + "\n")  # 67 points
    (annot / "000003.pts").write_text("\n".join([*good[:3], "12.5 abc", *good[4:]]) + "\n")
    (annot / "000004.pts").write_text("\n".join(good[:-1]) + "\n")  # no closing brace
    (annot / "000005.pts").write_text("\n".join([*good[:3], "nan 12.0", *good[4:]]) + "\n")
    error = _content_error("300vw", raw, tmp_path / "dest")
    assert error.report.counts() == {"malformed annotation": 4}
    message = str(error)
    assert "001/annot/000002.pts: malformed annotation (67 points" in message
    assert "001/annot/000003.pts: malformed annotation (a point is not two numbers" in message
    assert "001/annot/000004.pts: malformed annotation (points are not enclosed" in message
    assert "001/annot/000005.pts: malformed annotation (a point is not a finite number" in message


def test_a_split_naming_a_missing_video_is_reported(tmp_path: Path) -> None:
    raw = _render("ffpp", tmp_path / "ffpp")
    test_split = raw / "splits" / "test.json"
    test_split.write_text(json.dumps([["998", "999"]]))
    (raw / FFPP_VIDEOS / "054.json").write_text('{"item": "054", ')  # a cut-off side file
    error = _content_error("ffpp", raw, tmp_path / "dest")
    assert error.report.counts() == {"malformed JSON": 1, "names a missing item": 2}
    assert f"{FFPP_VIDEOS.as_posix()}/054.json: malformed JSON" in str(error)
    assert (
        f"splits/test.json: names a missing item (video 998: {FFPP_VIDEOS.as_posix()}/998.mp4 not found)"
        in str(error)
    )


def test_macos_debris_is_not_read(tmp_path: Path) -> None:
    """Resource forks and Finder files are no data: no reader takes them in, so neither does the check."""
    raw = _render("person_videos", tmp_path / "persons")
    (raw / "._A.mp4").write_bytes(b"resource fork")
    (raw / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (raw / "__MACOSX").mkdir()
    (raw / "__MACOSX" / "._B.mp4").write_bytes(b"resource fork")
    report = ingest("person_videos", raw, tmp_path / "dest", dvc=False)
    assert report["layout"]["items"] == ["A", "B"]
    assert report["content"]["read"] == {"video": 2, "json": 2} and report["content"]["problems"] == {}


def test_a_failed_check_registers_nothing_and_prints_no_traceback(project: Path, tmp_path: Path) -> None:
    raw = _render("portraits", tmp_path / "portraits")
    (raw / "photos" / "empty.jpg").write_bytes(b"")
    dest = project / "data" / "raw" / "portraits_broken"
    proc = _faceoff(["ingest", "portraits", str(raw), "--dest", str(dest)], project)
    assert proc.returncode == 2
    assert "photos/empty.jpg: empty file" in proc.stderr and "nothing was ingested" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not dest.exists() and not dest.with_name("portraits_broken.dvc").exists()
    assert not list(dest.parent.glob(".portraits_broken.ingest.*"))  # no staging folder left
