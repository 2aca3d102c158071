"""`faceoff bench` end to end on tiny configurations: the columns it prints and the ratio lines."""

from __future__ import annotations

import argparse

import pytest

from faceoff import bench

TRAIN_COLUMNS = [
    *("family", "setting", "size", "netG", "ngf/ndf", "batch", "precision"),
    *("s/step", "cpu_s", "img/s", "data", "rss_MB", "step_MB"),
]


def run_bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return bench.run(parser.parse_args(argv))


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line and not line.startswith(("#", "ratio"))]


def test_train_bench_compares_settings(capsys: pytest.CaptureFixture[str]) -> None:
    tiny = [
        "--device",
        "cpu",
        "--sizes",
        "32,48",
        "--ngf",
        "4",
        "--ndf",
        "4",
        "--steps",
        "2",
        "--warmup",
        "1",
    ]
    assert run_bench([*tiny, "--netG", "resnet_6blocks", "--compare", "plain,fast:channels_last=true"]) == 0
    out = capsys.readouterr().out
    header, *rows = table(out)
    assert header == TRAIN_COLUMNS
    assert [(r[1], r[2]) for r in rows] == [
        ("plain", "32"),
        ("fast:channels_last=true", "32"),
        ("plain", "48"),
        ("fast:channels_last=true", "48"),
    ]
    for row in rows:
        assert row[6] in ("fp32", "bf16") and float(row[7]) > 0 and float(row[8]) >= 0 and float(row[9]) > 0
        assert row[10].endswith("%") and float(row[11]) > 0 and float(row[12]) >= 0
    assert rows[0][6] == "fp32"  # plain
    ratios = [line for line in out.splitlines() if line.startswith("ratio")]
    assert len(ratios) == 2 and all("as fast as plain" in line for line in ratios)


def test_bench_rejects_unknown_settings() -> None:
    with pytest.raises(SystemExit, match="turbo"):
        run_bench(["--device", "cpu", "--sizes", "32", "--compare", "turbo"])
    with pytest.raises(SystemExit, match="key=value"):
        run_bench(["--device", "cpu", "--sizes", "32", "--compare", "plain:amp"])


def test_prepare_bench_reports_fps_and_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(["--prepare", "--frames", "12", "--compare", "reference,fast"]) == 0
    out = capsys.readouterr().out
    header, *rows = table(out)
    assert header[:5] == ["setting", "detector_runs", "fps", "cores", "fps/core"]
    assert {"detect_ms", "decode_ms", "landmarks_ms", "crop_ms", "write_ms"} <= set(header)
    assert [r[0] for r in rows] == ["reference", "fast"] and all(float(r[2]) > 0 for r in rows)
    assert "ratio prepare: fast is" in out


def test_apply_bench_reports_both_throughputs_from_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    """`faceoff bench --apply`: the demo's face-off model applied to a synthetic video at the demo's
    frame size, per stage, next to the preprocessing of the same video."""
    assert run_bench(["--apply", "--frames", "12", "--threads", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    header, *rows = table(out)
    assert header[:3] == ["what", "frames", "fps"]
    stages = ("decode", "detect", "landmarks", "crop", "translate", "translate_wait", "blend", "encode")
    assert [f"{k}_ms" for k in stages] == header[3 : 3 + len(stages)]
    assert [r[0] for r in rows][:2] == ["prepare", "apply_fp32"]
    for row in rows:
        assert row[1] == "12" and float(row[2]) > 0
    apply_row = dict(zip(header, rows[1], strict=True))
    assert all(float(apply_row[f"{k}_ms"]) > 0 for k in ("decode", "detect", "translate", "blend"))
    assert "160 px synthetic video" in out and "resnet_6blocks ngf 16" in out
    ratios = [line for line in out.splitlines() if line.startswith("ratio apply_fp32: ")]
    assert len(ratios) == 1 and "of the preprocessing throughput" in ratios[0]
