"""The GAN experiment contract on real MNIST: files, summary, sample mode, exact resume, bad input."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import run_script
from jaxunsup.recipes import gan
from jaxunsup.configs.gan import get_config
from jaxunsup.errors import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "gan.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "gan.py")
SUMMARY_KEYS = {"dataset", "model", "steps", "train_seconds", "fid", "precision", "recall",
                "class_coverage", "collapsed", "evaluator_test_accuracy", "num_samples"}


def _run(*args, variant="smoke"):
  return run_script(SCRIPT, *([f"--config={CONFIG}:{variant}"] if variant else []), *args)


def _snapshot(path):
  return {os.path.join(r, f): open(os.path.join(r, f), "rb").read() for r, _, fs in os.walk(path) for f in fs}


def _smoke(name):
  """The smoke config with `name`'s objective; sngan with its stabilisers on, infogan with two
  continuous codes."""
  config = get_config("smoke")
  config.model.name = name
  if name == "infogan":
    config.model.continuous_codes = 2
  if name == "sngan":
    config.model.spectral_norm = True
    config.train.diff_augment = "color,translation,cutout"
  return config


def _assert_contract(workdir, summary, name, config):
  assert SUMMARY_KEYS <= set(summary) and summary["model"] == name and summary["steps"] == 20
  assert summary["fid"] > 0 and 0 <= summary["precision"] <= 1 and 0 <= summary["recall"] <= 1
  assert "ema_fid" in summary and ("conditional_accuracy" in summary) == (name == "cgan")
  assert ("code_accuracy" in summary) == (name == "infogan")
  with open(workdir / "summary.json") as f:
    assert json.load(f) == summary
  samples = np.load(workdir / "samples.npy")
  assert samples.dtype == np.uint8 and samples.shape == (200, 28, 28, 1)
  figures = ["samples.png", "progress.png", "interpolation.png", "curves.png"]
  traversals = ["continuous_code_0.png", "continuous_code_1.png"]
  figures += {"cgan": ["class_grid.png"], "infogan": ["class_grid.png", *traversals]}.get(name, [])
  for f in figures + ["config.json", "metrics.jsonl"]:
    assert os.path.getsize(workdir / f) > 0, f
  assert sorted(os.listdir(workdir / "progress")) == ["step_00000010.npy", "step_00000020.npy"]
  assert sorted(int(s) for s in os.listdir(workdir / "checkpoints")) == [10, 20]
  model = gan.load(str(workdir))
  np.testing.assert_array_equal(gan.to_uint8(model.sample(200, config.seed)), samples)


# wgan_gp and sngan are held to the contract by the resume test's uninterrupted run
@pytest.mark.parametrize("name", ["mlp", "dcgan", "cgan", "infogan"])
def test_smoke_run_writes_the_contract(tmp_path, name):
  config = _smoke(name)
  _assert_contract(tmp_path, gan.train_and_evaluate(config, str(tmp_path)), name, config)
  if name == "dcgan":  # the default objective: its finished workdir also serves sample and truncation modes
    _sample_mode_writes_a_new_file_and_never_overwrites(tmp_path)
    _truncation_study_scores_each_threshold_and_reads_back(tmp_path, config)


def _sample_mode_writes_a_new_file_and_never_overwrites(workdir):
  out = workdir / "more.npy"
  gan.write_samples(str(workdir), str(out), 7, seed=0)
  assert np.load(out).shape == (7, 28, 28, 1)
  before = _snapshot(workdir)
  again = _run("--mode=sample", f"--workdir={workdir}", "--num_samples=7", f"--out={out}", variant=None)
  assert again.returncode == 2 and "exists" in again.stderr
  assert _snapshot(workdir) == before


def _truncation_study_scores_each_threshold_and_reads_back(workdir, config):
  model = gan.load(str(workdir))
  z = model.latents(500, seed=3, truncation=0.5)
  assert np.abs(z).max() <= 0.5 and z.std() > 0.2  # inside the threshold, not collapsed onto 0
  np.testing.assert_array_equal(z, model.latents(500, seed=3, truncation=0.5))
  rows = gan.truncation_study(str(workdir), ["0.5", "none"], 100, seed=0)
  assert [r["truncation"] for r in rows] == [0.5, None] and all(r["num_samples"] == 100 for r in rows)
  untruncated = gan.cached_scorer("mnist", config.eval.k)(model.sample(100, 0))
  assert rows[1]["fid"] == untruncated["fid"] and rows[0]["fid"] != rows[1]["fid"]
  out = workdir / "truncation"
  assert sorted(os.listdir(out)) == ["0.5.json", "curves.png", "none.json", "samples.png"]
  before = _snapshot(out)
  assert gan.truncation_study(str(workdir), ["0.5", "none"], 100, seed=0) == rows  # read back
  with pytest.raises(UsageError, match="other settings"):
    gan.truncation_study(str(workdir), ["none"], 100, seed=1)
  assert _snapshot(out) == before


@pytest.mark.parametrize("name", ["wgan_gp", "sngan"])  # sngan: the spectral-norm vectors resume too
def test_resume_from_a_checkpoint_gives_the_same_run(tmp_path, name):
  config = _smoke(name)
  full = gan.train_and_evaluate(config, str(tmp_path / "full"))
  _assert_contract(tmp_path / "full", full, name, config)
  # a copy rolled back to its step-10 checkpoint, as if it had been killed just after saving it
  part = tmp_path / "part"
  shutil.copytree(tmp_path / "full", part)
  shutil.rmtree(part / "checkpoints" / "20")
  for f in ("summary.json", "samples.npy"):  # written after training: the resumed run remakes them
    os.remove(part / f)
  resumed = gan.train_and_evaluate(config, str(part))
  strip = lambda s: {k: v for k, v in s.items() if k != "train_seconds"}
  assert strip(resumed) == strip(full)
  np.testing.assert_array_equal(np.load(part / "samples.npy"), np.load(tmp_path / "full" / "samples.npy"))


@pytest.mark.parametrize("args,variant,message", [
    (("--config.model.name=biggan",), "smoke", "unknown gan objective 'biggan'; choose one of mlp"),
    (("--config.model.name=wgan_gp", "--config.train.n_critic=0"), "smoke", "n_critic"),
    (("--config.model.disc_conv_impl=cudnn",), "smoke", "disc_conv_impl"),
    (("--config.train.diff_augment=color,blur",), "smoke", "unknown DiffAugment policy 'blur'"),
    (("--config.train.r1_weight=-1",), "smoke", "r1_weight"),
    (("--config.model.name=wgan_gp", "--config.train.r1_weight=1"), "smoke", "does not apply to wgan_gp"),
    (("--mode=sample",), None, "no config.json"),
    (("--mode=sample", "--truncation=-1"), None, "must be a positive number"),
    (("--mode=truncation", "--truncations=1,abc"), None, "neither a number nor `none`"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, variant, message):
  workdir = tmp_path / "w"
  result = _run(f"--workdir={workdir}", *args, variant=variant)
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
  assert not os.path.exists(workdir / "config.json")


def test_sample_mode_on_a_workdir_without_checkpoint(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(get_config("smoke").to_dict()))
  result = _run("--mode=sample", f"--workdir={tmp_path}", variant=None)
  assert result.returncode == 2 and "no checkpoint" in result.stderr
  assert os.listdir(tmp_path) == ["config.json"]
