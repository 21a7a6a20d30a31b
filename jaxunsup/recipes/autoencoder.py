"""The autoencoder family (mlp, conv, denoising, vae, iwae, beta_vae, beta_tcvae, vqvae): training,
evaluation and a model API.

`train_and_evaluate(config, workdir)` is what experiments/autoencoder.py runs; `load(workdir)`
gives notebooks a `trained.Model` with `encode`, `reconstruct` and (for the VAE) `sample`. Every
registered objective of the autoencoder family trains here.
"""

import os

import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import configs, trained, viz
from jaxunsup.chunked import map_in_chunks
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.eval import disentanglement
from jaxunsup.eval import pca as pca_lib
from jaxunsup.objectives import registry
from jaxunsup.train import files, loop
from jaxunsup.train.metrics_writer import read_metrics

SUMMARY_FILE = "summary.json"


def check(config: ml_collections.ConfigDict) -> registry.Objective:
  """The objective `config.model.name` names; UsageError on a bad name or setting."""
  configs.check_values(config, ae_configs)
  objective = registry.get("autoencoder", config.model.name)
  objective.check(config)
  return objective


def make_task(config: ml_collections.ConfigDict, spec, eval_x_NxHxWxC: np.ndarray) -> loop.Task:
  """The loop's view of the configured model: its objective's parts and a cheap periodic eval."""
  parts = registry.parts(check(config), config, spec)
  eval_x = jnp.asarray(eval_x_NxHxWxC)
  return registry.task(parts, eval_x)


def write_figures(workdir: str, model: trained.Model, x_test: np.ndarray, labels: np.ndarray,
                  class_names) -> None:
  """Reconstructions, latent map, curves, and VAE samples as PNGs in `workdir`."""
  name = f"{model.config.model.name} on {model.config.data.name}"
  viz.save_reconstructions(os.path.join(workdir, "reconstructions.png"), x_test[:40],
                           model.reconstruct(x_test[:40]), f"{name}: test reconstructions")
  n = min(5000, len(x_test))
  viz.save_latent_scatter(os.path.join(workdir, "latent.png"), model.encode(x_test[:n]), labels[:n],
                          f"{name}: test latents (latent_dim={model.config.model.latent_dim})",
                          class_names)
  rows = read_metrics(workdir)
  viz.save_curves(os.path.join(workdir, "curves.png"), rows,
                  ["train/loss", "eval/mse", "eval/elbo"], name)
  if model.parts.sample is not None:
    viz.save_grid(os.path.join(workdir, "samples.png"), model.sample(100, model.config.seed),
                  f"{name}: samples (Bernoulli means)")


def latent_study(workdir: str, model: trained.Model, x_test: np.ndarray, train) -> dict:
  """For Gaussian-posterior objectives: each latent's mean KL on the test set, a traversal figure
  with a row per latent (most informative first, at most 10), and on datasets with known factors
  MIG and DCI of the posterior means of the train images (`train`: the split's reader).
  Returns the summary's entries."""
  if model.parts.latent_kl is None:
    return {}
  kl_D = np.mean(map_in_chunks(lambda xb: model.parts.latent_kl(model.state, xb), x_test), axis=0)
  order = np.argsort(-kl_D)[:10]
  codes = disentanglement.traversal_codes(model.encode(x_test[:1])[0], order)
  name = f"{model.config.model.name} on {model.config.data.name}"
  viz.save_traversals(os.path.join(workdir, "traversals.png"), model.parts.decode(model.state, codes),
                      [f"z{d} KL {kl_D[d]:.2f}" for d in order],
                      f"{name}: latent traversals, -3..3 (rows by test KL)")
  out = {"latent_kl": kl_D.round(4).tolist(), "active_latents": int(np.sum(kl_D > 0.01))}
  if data_lib.spec(model.config.data.name).factors:
    train = train.read(np.arange(len(train)))
    codes_NxD = model.encode(train["image"].astype(np.float32) / 255.0)
    if np.isfinite(codes_NxD).all():
      out.update(disentanglement.scores(codes_NxD, train["factors"], seed=model.config.seed))
    else:  # a diverged run still writes its summary
      out["disentanglement"] = "not scored: the posterior means are not all finite"
  return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the configured autoencoder in `workdir` (resuming if possible); returns the summary."""
  objective = check(config)  # validate names before touching data or the workdir
  train, test = data_lib.open_splits(config.data)  # the train split read whole or streamed
  spec = data_lib.input_spec(config.data.name)
  image_shape = spec.shape
  x_test = test["image"].astype(np.float32) / 255.0
  task = make_task(config, spec, x_test[:config.eval.examples])
  with files.workdir_lock(workdir):  # held until the last figure is written
    result = loop.train(config, workdir, task, train)
    model = trained.Model(config, result.state, spec, objective)

    recon = model.reconstruct(x_test)
    test_mse = float(np.mean(np.square(recon - x_test)))
    pixels = int(np.prod(image_shape))
    sample = train.read(np.arange(min(len(train), config.eval.pca_examples)))["image"]
    x_train = sample.reshape((len(sample), -1)).astype(np.float32) / 255.0
    pca_mse = pca_lib.reconstruction_mse(x_train, x_test.reshape((len(x_test), -1)), config.model.latent_dim)
    summary = {"dataset": config.data.name, "model": config.model.name,
               "latent_dim": config.model.latent_dim, "steps": result.steps,
               "train_seconds": round(result.train_seconds, 2), "test_mse": test_mse,
               "test_sse_per_image": test_mse * pixels, "pca_test_mse": pca_mse,
               "pca_test_sse_per_image": pca_mse * pixels}
    if model.parts.test_scores is not None:
      summary.update(model.parts.test_scores(model.state, x_test))
    if model.parts.sample is not None:
      samples = model.sample(config.eval.num_samples, config.seed)
      files.save_npy(os.path.join(workdir, "samples.npy"), np.round(samples * 255).astype(np.uint8))
    write_figures(workdir, model, x_test, test["label"], data_lib.spec(config.data.name).class_names)
    summary.update(latent_study(workdir, model, x_test, train))
    files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
    return summary


def load(workdir: str) -> trained.Model:
  """The model saved in `workdir` (its latest checkpoint), ready to encode and reconstruct."""
  return trained.load(workdir)
