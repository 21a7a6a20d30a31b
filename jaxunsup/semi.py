"""The label sweep's semi-supervised evaluation `m2`: M2 (objectives/m2.py) trained on the labelled
subset and every training image unlabelled, on the features of the cell's encoder.

What M2 reads depends on where the encoder came from:
  an autoencoder-family VAE (`finetune.init_from` names its workdir)  M1+M2: the posterior mean
      and log-variance of M1, its active latents only (Kingma et al. keep those whose mean varies
      with std > 0.1), z1 drawn afresh at every step; Gaussian p(x|y,z);
  a pretraining objective's conv encoder  its features, deterministic; Gaussian p(x|y,z);
  none (from scratch)  the pixels, dynamically binarised; Bernoulli p(x|y,z): the paper's M2 alone.
The test images are classified by q(y|x) on the posterior means (or features, or intensities).
"""

import dataclasses
from typing import Optional

import ml_collections
import numpy as np

from jaxunsup import configs, finetune, trained
from jaxunsup.chunked import map_in_chunks
from jaxunsup.errors import UsageError
from jaxunsup.objectives import m2 as m2_lib
from jaxunsup.train import loop
from jaxunsup.train.metrics_writer import read_metrics

EVALUATION = "m2"


@dataclasses.dataclass(frozen=True)
class Features:
  """M2's inputs: train means (N, D), log-variances or None, test means, and the likelihood."""
  train: np.ndarray
  train_logvar: Optional[np.ndarray]
  test: np.ndarray
  likelihood: str
  source: str


def features(block: ml_collections.ConfigDict, encoder, images_N: np.ndarray,
             test_images: np.ndarray) -> Features:
  """M2's inputs for one objective. `encoder`: None (pixels), a loaded autoencoder-family run
  (`jaxunsup.trained.Model`, M1) or (module, params) of a conv encoder."""
  if encoder is None:
    flat = lambda x: (x.reshape((len(x), -1)) / 255.0).astype(np.float32)
    return Features(flat(images_N), None, flat(test_images), "bernoulli", "pixels")
  if isinstance(encoder, tuple):
    module, params = encoder
    return Features(finetune.in_chunks(module.apply, params, images_N), None,
                    finetune.in_chunks(module.apply, params, test_images), "gaussian", "encoder")
  model = encoder
  if model.parts.posterior is None:
    raise UsageError(f"m2 reads a Gaussian posterior; the {model.objective.name} run has none")

  def posterior(x):
    return map_in_chunks(lambda xb: np.concatenate(model.parts.posterior(model.state, xb / 255.0), -1),
                         x.astype(np.float32), 1000)

  stats, test_stats = posterior(images_N), posterior(test_images)
  mean, logvar = np.split(stats, 2, axis=-1)
  active = mean.std(axis=0) > block.active_std
  if not active.any():
    raise UsageError(f"no latent of the M1 run varies with std > m2.active_std={block.active_std}")
  return Features(mean[:, active], logvar[:, active], np.split(test_stats, 2, axis=-1)[0][:, active],
                  "gaussian", f"posterior ({int(active.sum())} of {len(active)} latents active)")


def cell_config(config: ml_collections.ConfigDict, feats: Features, seed: int) -> ml_collections.ConfigDict:
  """The loop config of one m2 cell."""
  block = config.m2
  c = ml_collections.ConfigDict({
      "seed": seed, "evaluation": EVALUATION, "data": config.data.to_dict(), "m2": block.to_dict(),
      "features": {"dim": int(feats.train.shape[1]), "likelihood": feats.likelihood, "source": feats.source}})
  configs.copy_runtime_fields(config, c)
  c.train = ml_collections.ConfigDict({
      "steps": block.steps, "batch_size": block.batch_size, "log_every": config.finetune.log_every,
      "eval_every": block.eval_every, "checkpoint_every": block.eval_every, "max_to_keep": 1,
      "loop": config.finetune.loop})
  return c


def train_cell(config: ml_collections.ConfigDict, workdir: str, feats: Features, labelled_idx: np.ndarray,
               train_labels: np.ndarray, test_labels: np.ndarray, num_classes: int, seed: int) -> float:
  """Trains M2 on `feats` with the labels of `labelled_idx` in `workdir`; returns test accuracy."""
  block = config.m2
  m2_lib.check(block)
  n = len(feats.train)
  # The labelled rows tiled to N, so one permutation of N rows draws both halves of every batch.
  tiled = labelled_idx[np.resize(np.arange(len(labelled_idx)), n)]
  data = {"x": feats.train, "lx": feats.train[tiled], "label": train_labels[tiled].astype(np.int32)}
  if feats.train_logvar is not None:
    data.update(x_logvar=feats.train_logvar, lx_logvar=feats.train_logvar[tiled])
  built = m2_lib.build(block, feats.train.shape[1], feats.likelihood, num_classes, n, len(labelled_idx))

  def evaluate(state, rng):
    del rng
    predicted = map_in_chunks(lambda xb: built.predict(state, xb), feats.test, 5000)
    return {"test_accuracy": float(np.mean(predicted == test_labels))}

  cfg = cell_config(config, feats, seed)
  task = loop.Task(init=built.init, train_step=built.train_step, evaluate=evaluate, show=("loss", "accuracy"))
  loop.train(cfg, workdir, task, data)
  rows = [r for r in read_metrics(workdir) if "eval/test_accuracy" in r]
  return rows[-1]["eval/test_accuracy"]


def encoder_of(config, spec, params, num_labelled: int):
  """What `features` takes for a sweep objective's encoder `params` (None from scratch)."""
  if params is None or isinstance(params, trained.Model):
    return params
  return finetune.cell_parts(config, "linear_probe", num_labelled, spec).modules["encoder"], params

