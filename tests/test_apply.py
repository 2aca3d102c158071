"""`faceoff apply` on real photographs: detection, crop and paste-back, the files it writes, bad input.

The clips are slow pans and zooms over two real portraits that ship with installed packages
(scikit-image's astronaut, matplotlib's Grace Hopper); faces are found by MTCNN and dlib, whose
weights ship with their packages. The model is a freshly initialised tiny generator: what is
checked here is the engine around it, not a trained translation.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import matplotlib.cbook
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from skimage import data

from faceoff import cli
from faceoff.apply import ApplyOptions, FaceCrop, apply_frames, cut
from faceoff.faces.crop import crop_and_resize, landmark_box, smooth_boxes, square_box
from faceoff.nets import build_generator
from faceoff.train.settings import TrainSettings

from .conftest import REPO

RUN = "faceoff/A2B-baseline-s0"
FPS = Fraction(30000, 1001)
AUDIO_RATE = 16000


def _portrait(name: str) -> np.ndarray:
    if name == "astronaut":
        return data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def _pan(image: np.ndarray, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A slow pan and zoom over ``image``: frames of ``size`` (width, height)."""
    height, width = image.shape[:2]
    frames = []
    for t in np.linspace(0, 1, n):
        zoom = 1.0 - 0.12 * t
        w, h = width * zoom, width * zoom * size[1] / size[0]
        x0, y0 = (width - w) * (0.3 + 0.3 * t), max(0.0, (height - h) * 0.15)
        box = (x0, y0, x0 + w, min(height, y0 + h))
        frames.append(np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR, box=box)))
    return frames


@pytest.fixture(scope="module")
def clips() -> dict[str, list[np.ndarray]]:
    return {name: _pan(_portrait(name), 8, (160, 120)) for name in ("astronaut", "grace_hopper")}


def _write_clip(path: Path, frames: list[np.ndarray], audio: bool = True) -> None:
    """An H.264 clip at 29.97 fps with a 440 Hz AAC track as long as the video."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "mono"
        for frame in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            n = int(len(frames) / FPS * AUDIO_RATE)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / AUDIO_RATE)).astype(np.float32)[None]
            for start in range(0, n, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    wave[:, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = AUDIO_RATE, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)


def _probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {"rate": video.average_rate, "size": (video.width, video.height)}
        info["frames"] = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        info["audio_samples"] = (
            sum(f.samples for f in container.decode(audio=0)) if container.streams.audio else 0
        )
    return info


def _identity(crops: np.ndarray, faces: list[FaceCrop]) -> np.ndarray:
    return crops


# ---------------------------------------------------------------- the engine


def test_identity_paste_back_reproduces_real_frames(clips: dict[str, list[np.ndarray]]) -> None:
    """Detected on every frame; pasting back the crops themselves changes nothing outside the
    blend mask and little inside, and the mask sits on the face."""
    options = ApplyOptions(size=96, crop_size=88, margin=0.3, smooth=3, detect_every=2)
    for name, frames in clips.items():
        applied = list(apply_frames(frames, _identity, options))
        assert [a.index for a in applied] == list(range(len(frames)))
        assert all(a.face_found for a in applied), name
        for a, frame in zip(applied, frames, strict=True):
            error = np.abs(a.frame.astype(int) - frame.astype(int))
            assert a.mask.dtype == np.float32 and a.mask.shape == frame.shape[:2]
            assert a.mask.min() >= 0.0 and a.mask.max() <= 1.0 and a.mask.max() > 0.99
            assert error[a.mask == 0].max() == 0, name  # untouched outside the blend region
            assert error[a.mask > 0].mean() < 2.0, name  # resampling there and back: small
            assert 0.02 < (a.mask > 0.5).mean() < 0.3, name  # a face, not the frame
            # the mask's centre of mass lies inside the face's landmark box
            ys, xs = np.nonzero(a.mask > 0.5)
            face = a.faces[0]
            x0, y0, x1, y1 = face.box
            assert x0 < xs.mean() < x1 and y0 < ys.mean() < y1


def test_a_changed_face_changes_only_the_face(clips: dict[str, list[np.ndarray]]) -> None:
    frames = clips["grace_hopper"][:3]
    options = ApplyOptions(size=64, crop_size=56, color_match="none", blend="seamless")
    for a, frame in zip(apply_frames(frames, lambda c, f: 255 - c, options), frames, strict=True):
        error = np.abs(a.frame.astype(int) - frame.astype(int)).mean(axis=2)
        assert error[a.mask > 0.9].mean() > 20  # the face did change
        assert error[a.mask == 0].max() == 0


def test_ring_colour_match_removes_a_colour_cast(clips: dict[str, list[np.ndarray]]) -> None:
    """A generator that tints the whole crop: the tint, measured just outside the face, is taken
    out of the face too (and the correction is steady over time)."""
    frames = clips["astronaut"][:4]

    def tint(crops: np.ndarray, faces: list[FaceCrop]) -> np.ndarray:
        return np.clip(crops.astype(int) + np.array([40, -20, 0]), 0, 255).astype(np.uint8)

    errors = {}
    for mode in ("none", "ring"):
        options = ApplyOptions(size=96, crop_size=88, margin=0.3, color_match=mode, color_momentum=0.0)
        applied = list(apply_frames(frames, tint, options))
        errors[mode] = np.mean(
            [
                np.abs(a.frame.astype(int) - f.astype(int))[a.mask > 0.5].mean()
                for a, f in zip(applied, frames, strict=True)
            ]
        )
    assert errors["none"] > 10 and errors["ring"] < errors["none"] / 3, errors


def test_all_faces_or_the_main_face(clips: dict[str, list[np.ndarray]]) -> None:
    """Two people in one picture: the main face only, or both with ``all_faces``."""
    both = np.concatenate([clips["astronaut"][0], clips["grace_hopper"][0]], axis=1)
    options = ApplyOptions(size=96, crop_size=88, margin=0.3, independent=True)
    (main,) = apply_frames([both], lambda c, f: 255 - c, options)
    options.all_faces = True
    (every,) = apply_frames([both], lambda c, f: 255 - c, options)
    assert len(main.faces) == 1 and len(every.faces) == 2
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in every.faces)
    assert centres[0] < 160 < centres[1]  # one face in each half
    for half in (slice(0, 160), slice(160, 320)):
        assert every.mask[:, half].max() > 0.99


def test_boxes_follow_prepare_smoothing_and_cut_matches_prepare() -> None:
    """With given landmarks (the synthetic data's annotations), the streaming engine's boxes are
    prepare's: square boxes smoothed over the whole sequence; ``cut`` cuts any frame the same way."""
    rng = np.random.default_rng(0)
    n, window = 12, 5
    base = np.stack([rng.uniform(40, 60, 68), rng.uniform(30, 55, 68)], axis=1)
    points = np.stack([base + rng.normal(0, 1.5, 2) + [t, 0.5 * t] for t in range(n)]).astype(np.float32)
    points[4] = np.nan  # a frame without a face passes unchanged
    frames = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(n)]
    options = ApplyOptions(
        size=40, crop_size=32, margin=0.4, smooth=window, detector="annotations", landmarks="annotations"
    )

    def given(index: int) -> np.ndarray | None:
        return None if np.isnan(points[index]).any() else points[index]

    applied = list(apply_frames(frames, _identity, options, landmarks=given))
    valid = ~np.isnan(points).any(axis=(1, 2))
    raw = np.full((n, 4), np.nan)
    raw[valid] = [square_box(landmark_box(p), 0.4) for p in points[valid]]
    expected = smooth_boxes(raw, window, valid)
    assert [a.face_found for a in applied] == list(valid)
    assert np.array_equal(applied[4].frame, frames[4]) and not applied[4].mask.any()
    for a in applied:
        if a.face_found:
            face = a.faces[0]
            np.testing.assert_allclose(face.box, expected[a.index], atol=1e-9)
            full = crop_and_resize(frames[a.index], face.box, 40)[0]
            assert np.array_equal(cut(frames[a.index], face, 40), full)
            assert np.array_equal(cut(frames[a.index], face), full[4:36, 4:36])


def test_options_refuse_a_crop_larger_than_the_prepared_faces() -> None:
    with pytest.raises(Exception, match="larger than the 40 px faces"):
        ApplyOptions.from_prepare({"size": 40, "detector": "annotations", "split": {}}, crop_size=48)


# ---------------------------------------------------------------- the command


def _project(tmp_path: Path, crop_size: int = 32, model: bool = True) -> Path:
    """The smoke configuration with faces found by MTCNN + dlib, and a tiny untrained model
    saved as the run's model.pt (what `faceoff train` writes)."""
    override = {
        "output_dir": str(tmp_path / "results"),
        "datasets": {"persons": {"prepare": {"detector": "mtcnn", "landmarks": "dlib", "margin": 0.3}}},
    }
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    if model:
        settings = TrainSettings.from_dict(
            {"model": "cyclegan", "netG": "resnet_6blocks", "ngf": 4, "crop_size": crop_size}
        )
        torch.manual_seed(0)
        nets = {k: build_generator("resnet_6blocks", 4, settings.norm).state_dict() for k in ("G_AB", "G_BA")}
        path = tmp_path / "results" / "train" / "faceoff" / "A2B-baseline-s0" / "model.pt"
        path.parent.mkdir(parents=True)
        torch.save({"settings": settings.to_dict(), **nets}, path)
    return tmp_path / "override.yaml"


def _config(tmp_path: Path) -> list[str]:
    return ["-c", "params.yaml", "-c", "config/smoke.yaml", "-c", str(tmp_path / "override.yaml")]


def _main(tmp_path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main([*_config(tmp_path), "apply", "--run", RUN, *args])
    return code, capsys.readouterr().err


def test_video_keeps_rate_size_audio_and_reports(tmp_path: Path, clips: dict[str, list[np.ndarray]]) -> None:
    """`faceoff apply` as users run it: a 29.97 fps clip with sound in, the same clip out."""
    _project(tmp_path)
    frames = clips["astronaut"] + clips["grace_hopper"]
    source = tmp_path / "clip.mp4"
    _write_clip(source, frames)
    out, summary = tmp_path / "out" / "clip.mp4", tmp_path / "summary.json"
    command = [sys.executable, "-m", "faceoff", *_config(tmp_path), "apply", "--run", RUN, str(source)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*command, "-o", str(out), "--summary", str(summary), "--side-by-side"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    before, after = _probe(source), _probe(out)
    assert after["rate"] == before["rate"] == FPS
    assert after["frames"] == before["frames"] == len(frames)
    assert after["size"] == (2 * 160, 120)  # side by side: input | output
    assert abs(after["audio_samples"] - before["audio_samples"]) <= 1024 < before["audio_samples"]
    report = json.loads(summary.read_text())
    assert report["frames"] == len(frames) and report["faces_found"] == len(frames) and report["skipped"] == 0
    assert {"decode", "detect", "landmarks", "translate", "blend", "encode"} <= set(report["seconds"])
    assert "16 frames, 16 with a face, 0 passed unchanged" in proc.stderr
    assert not [p.name for p in out.parent.iterdir() if p.name != "clip.mp4"]  # no temporary left


def test_image_and_folder(
    tmp_path: Path, clips: dict[str, list[np.ndarray]], capsys, caplog, monkeypatch
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("FACEOFF_PROGRESS_INTERVAL", "0")  # a progress line after every frame
    _project(tmp_path)
    image = tmp_path / "one.png"
    Image.fromarray(clips["grace_hopper"][0]).save(image)
    assert _main(tmp_path, str(image), "-o", str(tmp_path / "one_out.png"), capsys=capsys)[0] == 0
    assert Image.open(tmp_path / "one_out.png").size == (160, 120)

    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(clips["astronaut"][0]).save(folder / "a.jpg", quality=95)
    Image.fromarray(clips["grace_hopper"][-1][:100, :150]).save(folder / "nested" / "b.png")
    Image.fromarray(np.full((50, 70, 3), 128, np.uint8)).save(folder / "nested" / "no_face.png")
    code, err = _main(tmp_path, str(folder), "-o", str(tmp_path / "photos_out"), capsys=capsys)
    assert code == 0, err
    written = sorted(
        p.relative_to(tmp_path / "photos_out").as_posix() for p in (tmp_path / "photos_out").rglob("*.*")
    )
    assert written == ["a.jpg", "nested/b.png", "nested/no_face.png"]
    assert Image.open(tmp_path / "photos_out" / "nested" / "b.png").size == (150, 100)
    assert np.array_equal(  # no face: passed unchanged
        np.asarray(Image.open(tmp_path / "photos_out" / "nested" / "no_face.png")), np.full((50, 70, 3), 128)
    )
    assert "3 frames, 2 with a face, 1 passed unchanged" in caplog.text
    assert re.search(r"apply photos: 2/3 frame \(67%\) in 00:0\d, [0-9.]+frame/s, .*ETA 00:0\d", caplog.text)


def _one_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and err.count("faceoff: error: ") == 1, err
    return err.split("faceoff: error: ", 1)[1]


def test_bad_inputs_give_one_line_and_no_output(tmp_path: Path, clips, capsys) -> None:
    _project(tmp_path)
    out = tmp_path / "out.mp4"
    blank = tmp_path / "blank.mp4"
    _write_clip(blank, [np.full((64, 80, 3), 90, np.uint8)] * 4, audio=False)
    message = _one_error(*_main(tmp_path, str(blank), "-o", str(out), capsys=capsys))
    assert "no face found in any of its 4 frames" in message and "nothing was written" in message

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    assert "not a readable video" in _one_error(*_main(tmp_path, str(broken), "-o", str(out), capsys=capsys))

    missing = tmp_path / "missing.mp4"
    assert "input not found" in _one_error(*_main(tmp_path, str(missing), "-o", str(out), capsys=capsys))

    image = tmp_path / "one.png"
    Image.fromarray(clips["astronaut"][0]).save(image)
    message = _one_error(*_main(tmp_path, str(image), "-o", str(out), capsys=capsys))
    assert "not the kind of the input (image" in message
    assert not list(tmp_path.glob("*out*"))

    untrained = tmp_path / "untrained"
    _project(untrained, model=False)
    message = _one_error(*_main(untrained, str(image), "-o", str(untrained / "o.png"), capsys=capsys))
    assert "trained model not found" in message and f"faceoff train --run {RUN}" in message

    mismatch = tmp_path / "mismatch"
    _project(mismatch, crop_size=128)  # the smoke data is prepared at 96 px
    message = _one_error(*_main(mismatch, str(image), "-o", str(mismatch / "o.png"), capsys=capsys))
    assert "takes 128 px crops, larger than the 96 px faces" in message
    assert not list(tmp_path.rglob("o.png")) and not out.exists()


def test_reenactment_follows_a_driver(tmp_path: Path, clips: dict[str, list[np.ndarray]], capsys) -> None:
    """A reenactment run takes the face from INPUT and the expression and pose from --driver."""
    import faceoff.train.reenact  # noqa: F401  (registers the model)
    from faceoff.nets.reenact import ReenactGenerator
    from faceoff.train.registry import settings_from_dict

    override = {
        "output_dir": str(tmp_path / "results"),
        "datasets": {"vw300": {"prepare": {"detector": "mtcnn", "landmarks": "dlib", "margin": 0.3}}},
    }
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    settings = settings_from_dict({"model": "reenact", "ngf": 4, "crop_size": 32})
    torch.manual_seed(0)
    model = tmp_path / "results" / "train" / "reenact" / "1142124-full-s0" / "model.pt"
    model.parent.mkdir(parents=True)
    torch.save(
        {"settings": settings.to_dict(), "G": ReenactGenerator(4, norm=settings.norm).state_dict()}, model
    )
    source, driver, out = tmp_path / "face.mp4", tmp_path / "driver.mp4", tmp_path / "out.mp4"
    _write_clip(source, clips["astronaut"], audio=False)
    _write_clip(driver, clips["grace_hopper"][:5], audio=False)
    run = ["apply", "--run", "reenact/1142124-full-s0", str(source), "-o", str(out)]
    message = _one_error(cli.main([*_config(tmp_path), *run]), capsys.readouterr().err)
    assert "is a reenactment run: give the video to follow with --driver VIDEO" in message
    assert cli.main([*_config(tmp_path), *run, "--driver", str(driver)]) == 0, capsys.readouterr().err
    assert _probe(out)["frames"] == len(clips["astronaut"])  # the driver's last frame holds after it ends
    with av.open(str(out)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(first.astype(int) - clips["astronaut"][0].astype(int)).max() > 40  # the face was redrawn
