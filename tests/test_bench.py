"""`faceoff bench` end to end on tiny configurations: the columns it prints and the ratio lines."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from faceoff import bench
from faceoff.bench import gpu_check
from faceoff.bench.models import measured_peak, step_flops
from faceoff.bench.specs import named_overrides
from faceoff.config.load import ConfigError

TRAIN_COLUMNS = [
    *("model", "setting", "size", "precision", "batch", "s/step", "speedup", "cpu_s", "img/s"),
    *("data", "GFLOP/step", "GFLOP/s", "peak_GFLOP/s", "%peak", "rss_MB", "step_MB"),
]
TINY = ["--device", "cpu", "--ngf", "4", "--ndf", "4", "--batch-size", "2", "--steps", "2", "--warmup", "1"]
TOY_PLUGIN = Path(__file__).parent / "plugins" / "toy_model.py"


def run_bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return bench.run(parser.parse_args(argv))


def table(output: str) -> list[list[str]]:
    skip = ("#", "ratio", "peak ")
    return [line.split() for line in output.splitlines() if line and not line.startswith(skip)]


def rows_by_column(output: str) -> list[dict[str, str]]:
    header, *rows = table(output)
    assert header == TRAIN_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_train_bench_compares_settings(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*TINY, "--models", "cyclegan", "--sizes", "32,48", "--netG", "resnet_6blocks"]
    assert run_bench([*argv, "--compare", "plain,fast:channels_last=true"]) == 0
    out = capsys.readouterr().out
    rows = rows_by_column(out)
    assert [(r["model"], r["setting"], r["size"]) for r in rows] == [
        ("cyclegan", "plain", "32"),
        ("cyclegan", "fast:channels_last=true", "32"),
        ("cyclegan", "plain", "48"),
        ("cyclegan", "fast:channels_last=true", "48"),
    ]
    for row in rows:
        assert row["precision"] in ("fp32", "bf16") and row["batch"] == "2"
        assert float(row["s/step"]) > 0 and float(row["cpu_s"]) >= 0 and float(row["img/s"]) > 0
        assert row["data"].endswith("%") and float(row["rss_MB"]) > 0 and float(row["step_MB"]) >= 0
        assert float(row["GFLOP/s"]) > 0 and float(row["peak_GFLOP/s"]) > 0 and row["%peak"].endswith("%")
    assert rows[0]["precision"] == "fp32" and rows[0]["speedup"] == "1.00"  # plain, the reference
    # The same computation in both settings: the same FLOPs; 48 px is (48/32)^2 = 2.25x the work.
    flops = [float(r["GFLOP/step"]) for r in rows]
    assert (
        flops[0] == flops[1] and flops[2] == flops[3] and flops[2] / flops[0] == pytest.approx(2.25, rel=0.01)
    )
    assert "peak fp32, measured (GFLOP/s, torch threads " in out
    ratios = [line for line in out.splitlines() if line.startswith("ratio")]
    assert len(ratios) == 2 and all("as fast as plain" in line for line in ratios)


def test_train_bench_measures_every_registered_model(capsys: pytest.CaptureFixture[str]) -> None:
    """Every model is built through the registry on synthetic data (a plugin's too), a model may be
    given as a variant (``name:key=value``), and a size or weights file a model lacks skips it."""
    reenact = "reenact:feature_net=dlib_resnet:perceptual_layers=[stage1,stage2,stage3,stage4]"
    reenact += ":style_layer=stage3:identity_layer=stage2"
    argv = [*TINY, "--sizes", "32", "--plugin", str(TOY_PLUGIN), "--steps", "1"]
    assert run_bench([*argv, "--models", f"cyclegan:gan_mode=wgangp,nst,{reenact}"]) == 0
    out = capsys.readouterr().out
    models = [r["model"] for r in rows_by_column(out)]
    if "nst" not in models:  # the study's VGG19, not shipped: the model is skipped, saying why
        assert "# skipped nst 32px: VGG19 weights not found" in out
    assert [m for m in models if m != "nst"] == ["cyclegan:gan_mode=wgangp", reenact]
    assert run_bench([*argv, "--compare", "plain,fast"]) == 0  # every model, the plugin's included
    out = capsys.readouterr().out
    rows = rows_by_column(out)
    measured = {r["model"] for r in rows}
    assert {"autoencoder", "cyclegan", "expression_classifier", "progressive_cyclegan", "sagan"} <= measured
    assert "colour_shift" in measured  # tests/plugins/toy_model.py, registered by --plugin
    assert "# skipped autoencoder" not in out and "# skipped cyclegan" not in out
    for row in rows:
        assert float(row["GFLOP/step"]) > 0 and float(row["s/step"]) > 0
    # A model whose crop rule excludes a size is skipped with its reason, not an error.
    assert run_bench([*TINY, "--models", "autoencoder", "--sizes", "40"]) == 0
    assert "# skipped autoencoder 40px: " in capsys.readouterr().out


def test_bench_rejects_unknown_settings_and_models() -> None:
    with pytest.raises(SystemExit, match="turbo"):
        run_bench(["--device", "cpu", "--sizes", "32", "--compare", "turbo"])
    with pytest.raises(SystemExit, match="key=value"):
        run_bench(["--device", "cpu", "--sizes", "32", "--compare", "plain:amp"])
    with pytest.raises(SystemExit, match=r"unknown model 'pix2pix' \(registered: autoencoder, .*cyclegan"):
        run_bench(["--device", "cpu", "--sizes", "32", "--models", "pix2pix"])
    with pytest.raises(SystemExit, match=r"model 'sagan' has no settings \['netG_typo'\]"):
        run_bench(["--device", "cpu", "--sizes", "32", "--models", "sagan:netG_typo=1"])


def test_names_keep_yaml_lists_together() -> None:
    assert bench._names("a,b:x=[1,2]:y=3,c") == ["a", "b:x=[1,2]:y=3", "c"]


def test_flop_count_of_a_step_is_forward_and_backward() -> None:
    """A convolution's step: forward 2*N*Cout*Cin*k*k*H*W, then as much again for each of the
    input and weight gradients."""

    class ConvStep:
        def __init__(self) -> None:
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

        def train_step(self, step: int) -> torch.Tensor:
            x = torch.randn(2, 3, 16, 16, requires_grad=True)
            loss = self.conv(x).square().mean()
            (grad,) = torch.autograd.grad(loss, x, create_graph=True)  # as WGAN-GP's penalty does
            grad.sum().backward()
            return loss.detach()

    forward = 2 * 2 * 8 * 3 * 3 * 3 * 16 * 16
    flops = step_flops(ConvStep(), 0)  # type: ignore[arg-type]
    assert flops >= 3 * forward and flops % forward == 0


def test_peak_is_measured_on_matmul_and_convolution() -> None:
    peaks = measured_peak("fp32", torch.device("cpu"), repeats=1)
    assert set(peaks) == {"matmul", "conv3x3"} and all(1e6 < rate < 1e14 for rate in peaks.values())


def test_gpu_check_without_cuda_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the check itself runs (make gpu-check)")
    assert gpu_check.main([]) == 0
    assert "no CUDA device present" in capsys.readouterr().out


def test_gpu_check_logic_runs_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    """The GPU check's checks on one model with the CPU-capable switches (bf16 autocast,
    channels_last): finite losses, resume equal to an uninterrupted run, precision changes,
    evaluation and apply."""
    assert gpu_check.check(["autoencoder"], "cpu", gpu_check.CPU_SWITCHES, size=32) == []
    lines = capsys.readouterr().out.splitlines()
    checks = [line.split(None, 2)[2].split(":")[0] for line in lines if line.startswith("ok ")]
    assert checks == [
        *("switch plain", "switch bf16", "switch channels_last"),
        *("resume", "precisions", "evaluate+apply"),
    ]
    assert not any(line.startswith("FAIL") for line in lines)


def test_gpu_check_reports_a_failing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that fails is named with its error, and the others still run."""

    def broken(model: str, device: str, size: int, tmp: Path) -> str:
        raise AssertionError("resumed weights differ")

    monkeypatch.setattr(gpu_check, "check_resume", broken)
    failures = gpu_check.check(["expression_classifier"], "cpu", {}, size=32)
    assert failures == ["expression_classifier resume: AssertionError: resumed weights differ"]


def test_prepare_bench_reports_fps_steps_and_box_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Every-frame detection against the defaults (tracking): speed, and the crop boxes' IoU with
    every-frame detection's (1 for itself) and with the renderer's exact boxes."""
    assert run_bench(["--prepare", "--frames", "24", "--compare", "reference,default,fast"]) == 0
    out = capsys.readouterr().out
    header, *rows = table(out)
    assert header[:9] == [
        *("setting", "detector_runs", "fps", "cores", "fps/core"),
        *("iou_mean", "iou_min", "exact_iou_mean", "exact_iou_min"),
    ]
    assert {"detect_ms", "decode_ms", "landmarks_ms", "crop_ms", "write_ms"} <= set(header)
    found = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(found) == ["reference", "default", "fast"] and all(
        float(r["fps"]) > 0 for r in found.values()
    )
    assert found["reference"]["detector_runs"] == "24" and int(found["default"]["detector_runs"]) < 24
    assert found["reference"]["iou_min"] == "1.000"
    assert all(0.8 < float(r[k]) <= 1 for r in found.values() for k in ("iou_mean", "exact_iou_mean"))
    assert "ratio prepare: default is" in out and "ratio prepare: fast is" in out


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


def test_named_overrides_read_yaml_values_and_refuse_a_bare_key() -> None:
    """``faceoff bench`` settings and the docs probes share one reading of ``name:key=value``."""
    assert named_overrides("fast") == ("fast", {})
    name, overrides = named_overrides("lr 5e-4, 240 steps:lr=5.0e-4:compile=true:netG=resnet_6blocks")
    assert name == "lr 5e-4, 240 steps"
    assert overrides == {"lr": 5.0e-4, "compile": True, "netG": "resnet_6blocks"}
    with pytest.raises(ConfigError, match="'steps' is not key=value"):
        named_overrides("plain:steps")
