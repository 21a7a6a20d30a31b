"""experiments/representations.py on real MNIST: tables, figures, one-class models, bad input."""

import json
import os

import pytest

from conftest import run_script
from jaxunsup import pretrain
from jaxunsup.recipes import autoencoder
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup import data
from jaxunsup.train import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "representations.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "representations.py")


def _run(workdir, *args):
  return run_script(SCRIPT, f"--config={CONFIG}:smoke", f"--workdir={workdir}", *args)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
  """A smoke VAE and a smoke SimCLR pretraining, the kinds of workdir the experiment reads."""
  root = tmp_path_factory.mktemp("sources")
  pf = pf_configs.get_config("smoke")
  train, test = data.load_splits(pf.data)
  eval_x = test["image"][:64] / 255.0
  vae_cfg = ae_configs.get_config("smoke")
  vae_cfg.model.name = "vae"
  spec = data.input_spec("mnist")
  loop.train(vae_cfg, str(root / "vae"), autoencoder.make_task(vae_cfg, spec, eval_x), train)
  pretrain.run(pretrain.phase_config(pf, "simclr"), str(root / "simclr"), train["image"], eval_x, spec)
  return str(root / "vae"), str(root / "simclr")


def _sources_flag(paths):
  return "--config.sources=(" + "".join(f"'{p}'," for p in paths) + ")"


def test_smoke_run_writes_tables_figures_and_repeats_itself(tmp_path, sources):
  result = _run(tmp_path, _sources_flag(sources))
  assert result.returncode == 0, result.stderr
  for name in ("config.json", "summary.json", "representations.md", "maps.png", "anomaly.png"):
    assert os.path.getsize(tmp_path / name) > 0, name
  with open(tmp_path / "summary.json") as f:
    summary = json.load(f)
  methods = ["raw pixels", "pca 8", "vae", "simclr"]
  assert [r["method"] for r in summary["reduction"]] == methods
  assert [(r["method"], r["algorithm"]) for r in summary["clustering"]["rows"]] == \
      [(m, a) for m in methods for a in ("kmeans", "spectral")]
  by_method = {r["method"]: r for r in summary["reduction"]}
  assert by_method["vae"]["dim"] == 8 and by_method["simclr"]["dim"] == 16
  assert by_method["simclr"]["test_mse"] is None and by_method["vae"]["test_mse"] > 0
  assert all(0.1 < r["knn_accuracy"] <= 1 for r in summary["reduction"])
  assert all(0 < r["acc_mean"] <= 1 and len(r["per_seed"]) == 2 for r in summary["clustering"]["rows"])
  assert set(summary["anomaly"]) == {"pca 4 recon", "one-class AE recon", "one-class VAE -ELBO",
                                     "one-class SimCLR knn 5",
                                     "centre: raw pixels", "centre: vae", "centre: simclr",
                                     "knn 5: raw pixels", "knn 5: vae", "knn 5: simclr"}
  assert all(0 <= row["mean"] <= 1 and row["classes"] == [0] for row in summary["anomaly"].values())
  for model in ("vae", "simclr"):
    with open(tmp_path / "anomaly" / f"{model}_c0" / "config.json") as f:
      assert json.load(f)["normal_class"] == 0

  # Same command again: the one-class models are restored, every figure comes out the same.
  again = _run(tmp_path, _sources_flag(sources))
  assert again.returncode == 0, again.stderr
  with open(tmp_path / "summary.json") as f:
    repeated = json.load(f)
  assert {k: v for k, v in repeated.items() if k != "seconds"} == \
      {k: v for k, v in summary.items() if k != "seconds"}


@pytest.mark.parametrize("overrides,message", [
    (("--config.anomaly.methods=('pca','isolation_forest')",), "unknown anomaly method"),
    (("--config.clustering.algorithms=('kmeans','dbscan')",), "unknown clustering algorithm"),
    (("--config.anomaly.methods=('deep_svdd',)", "--config.anomaly.deep_svdd.rep_dim=24"),
     "rep_dim a multiple of 16"),
    (("--config.anomaly.methods=('deep_svdd',)", "--config.anomaly.deep_svdd.batch_size=5000"),
     "batch_size 5000 is larger than the"),
    (("--config.sources=('/no/such/run',)",), "has no config.json"),
    (("--config.data.name=fashion_mnist", "SOURCES"), "was trained on 'mnist'"),
    (("--config.clustering.algorithms=('kmeans','dec')", "SOURCES"), "trains a plain autoencoder's encoder"),
    (("--config.clustering.algorithms=('idec',)", "--config.clustering.idec.optimizer=rmsprop"),
     "optimizer must be one of sgd, adam"),
    (("--config.clustering.algorithms=('n2d',)", "--config.clustering.n2d.covariance=banana"),
     "covariance 'banana' is not one of full"),
    (("--config.maps.method=isomap",), "maps.method must be one of tsne, umap"),
    (("--config.maps.method=umap", "--config.maps.examples=10"), "maps.neighbours 15 needs more than that"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, sources, overrides, message):
  overrides = [_sources_flag(sources) if o == "SOURCES" else o for o in overrides]
  result = _run(tmp_path / "w", *overrides)
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
  assert not os.path.exists(tmp_path / "w")
