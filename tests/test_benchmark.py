"""The benchmark harness: the smoke run's files and figures, scaling on simulated devices, bf16, bad input."""

import json
import os
import subprocess
import sys

import pytest

from conftest import run_script, xla_env
from jaxunsup import bench
from jaxunsup.recipes import benchmark
from jaxunsup.configs.benchmark import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "benchmark.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "benchmark.py")
ROW_KEYS = {"model", "batch_size", "loop", "dtype", "compile_seconds", "ms_per_step", "min_ms", "max_ms",
            "steps_per_second", "samples_per_second", "flops_per_step", "achieved_flops", "mfu"}


def _run(*args, devices=1, process=False):
  """The benchmark script; in its own process (CPU only, `devices` simulated) where `process` or
  devices > 1, as the device count is fixed when jax starts."""
  if devices == 1 and not process:
    return run_script(SCRIPT, f"--config={CONFIG}:smoke", *args)
  cmd = [sys.executable, SCRIPT, f"--config={CONFIG}:smoke", *args]
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=xla_env(devices))


def test_smoke_run_times_every_model_and_each_pipeline(tmp_path):
  # one process (a CPU one on any machine) for the model rows and the pipeline rows
  proc = _run(f"--workdir={tmp_path}", "--config.pipeline_models=('autoencoder/mlp',)",
              "--config.pipelines=('device','stream','stream:1')", process=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / "benchmark.json") as f:
    result = json.load(f)
  assert result["platform"] == "cpu" and result["device_count"] == 1 and result["peak"]["flops"] > 0
  assert [r["model"] for r in result["rows"]] == list(get_config("smoke").models)
  for r in result["rows"]:
    assert ROW_KEYS <= set(r)
    assert r["min_ms"] <= r["ms_per_step"] <= r["max_ms"] and r["flops_per_step"] > 0 and 0 < r["mfu"]
    assert r["samples_per_second"] == pytest.approx(r["examples_per_step"] * r["steps_per_second"])
  table = (tmp_path / "benchmark.md").read_text()
  assert "| autoencoder/mlp | 16 | host |" in table and "MFU" in table and "no scaling rows" in table
  # real data read on the device, streamed by threads, streamed by one worker process
  assert [r["pipeline"] for r in result["pipelines"]] == ["device", "stream", "stream:1"]
  for r in result["pipelines"]:
    assert r["dataset"] == "mnist" and r["min_ms"] <= r["ms_per_step"] <= r["max_ms"]
    assert r["data_mb"] == pytest.approx(60000 * (28 * 28 + 4) / 2 ** 20) and r["peak_rss_mb"] > r["data_mb"]
  assert result["pipelines"][0]["relative_to_device"] == 1.0
  assert result["pipelines"][2]["worker_peak_rss_mb"] > 0  # the worker process ran and ended
  assert "| autoencoder/mlp | mnist | stream:1 | 64 |" in table


def test_scaling_rows_on_two_simulated_devices(tmp_path):
  proc = _run(f"--workdir={tmp_path}", "--config.models=('autoencoder/mlp',)", devices=2)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / "benchmark.json") as f:
    result = json.load(f)
  assert result["device_count"] == 2 and result["mesh_devices"] == 2
  assert [(r["devices"], r["speedup"] > 0) for r in result["scaling"]] == [(1, True), (2, True)]
  assert result["scaling"][0]["speedup"] == 1.0


@pytest.mark.parametrize("kind,expected", [("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"),
                                           ("NVIDIA H200", "H200"), ("NVIDIA H100 NVL", None), ("Tesla T4", None)])
def test_gpu_device_kinds_map_to_their_datasheet_peaks(kind, expected):
  assert benchmark.datasheet_kind(kind) == expected


def test_interleaved_windows_take_turns_after_their_warmups():
  calls = []
  t = bench.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 4, repeats=3, warmup=1)
  assert calls == ["a", "b"] + ["a", "b"] * 3
  assert set(t) == {"a", "b"} and t["a"]["repeats"] == 3 and t["a"]["min_ms"] <= t["a"]["ms_per_step"]


def test_every_registered_image_objective_is_a_benchmark_model_with_overrides():
  names = benchmark.model_names(["all", "gan/dcgan"])
  assert {"autoencoder/vae", "gan/cgan", "pretrain/simclr"} <= set(names) and names.count("gan/dcgan") == 1
  model = benchmark.build("gan/dcgan:model.gen_upsampling=transposed,train.gen_lr=1e-3", 16, small=True)
  assert model.name.startswith("gan/dcgan:") and model.examples_per_step == 16


def test_bfloat16_rows_compare_the_loss_with_float32():
  config = get_config("smoke")
  config.update(models=("autoencoder/mlp",), dtype="bfloat16", scaling=False)  # each row compiles twice
  result = benchmark.run(config)
  for r in result["rows"]:
    assert r["dtype"] == "bfloat16" and r["loss"] != r["loss_float32"]
    assert r["loss_relative_difference"] < 0.05


@pytest.mark.parametrize("args,devices,message", [
    (["--config.models=('autoencoder/mlp','gan/resnet')"], 1, "unknown model 'gan/resnet' in the benchmark list"),
    (["--config.models=('gan/dcgan:model.nope=1',)"], 1, "'model.nope=1' in benchmark model 'gan/dcgan:model.nope=1' is not"),
    (["--config.mesh.data=4"], 1, "mesh data=4 x fsdp=1 needs 4 devices but 1 are present"),
    (["--config.batch_sizes=(15,)"], 2, "batch 15 is not divisible by the 2 devices of the mesh"),
    (["--config.dtype=float16"], 1, "unknown dtype 'float16'"),
    (["--config.pipelines=('disk',)"], 1, "unknown pipeline 'disk'; choose device, stream or stream:N"),
    (["--config.pipelines=('stream',)", "--config.pipeline_models=('autoencoder/conv:data.name=nowhere',)"], 1,
     "unknown dataset 'nowhere'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, devices, message):
  workdir = tmp_path / "bench"
  proc = _run(f"--workdir={workdir}", *args, devices=devices)
  assert proc.returncode == 2 and message in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not workdir.exists()
