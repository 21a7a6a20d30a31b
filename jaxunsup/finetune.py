"""The fine-tuning phase: an encoder (pretrained or fresh) evaluated with few labels.

Evaluations:
  linear_probe  the encoder frozen, a linear head trained on its features;
  finetune      encoder and head trained together, each with its own learning rate;
  knn           no training: cosine k-nearest neighbours among the labelled examples' features.
  m2            semi-supervised: M2 on the encoder's features of the labelled and every unlabelled
                training image (jaxunsup/semi.py; M1+M2 when the encoder is a VAE's).
  fixmatch      semi-supervised: encoder and head trained by FixMatch on the labelled and every
                unlabelled training image (objectives/fixmatch.py), with its own `fixmatch` block.
A trained evaluation is one run of the training loop in its own workdir (own optimizer state,
checkpoints, exact resume), started from the pretrained encoder params. Inputs are images (a
split's "image", uint8) or token ids (its "ids"): `input_key` tells which a split holds.
"""

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import configs
from jaxunsup.chunked import map_in_chunks
from jaxunsup.data.specs import to_model
from jaxunsup.errors import UsageError
from jaxunsup.eval import knn as knn_lib
from jaxunsup.objectives import fixmatch, registry
from jaxunsup.train import loop
from jaxunsup.train import state as state_lib
from jaxunsup.train.metrics_writer import read_metrics

EVALUATIONS = ("linear_probe", "finetune", "knn", "m2", "fixmatch")
FIXMATCH = "fixmatch"


def input_key(split: dict) -> str:
  """The model input a split holds: "image" or, for text, "ids"."""
  return "image" if "image" in split else "ids"


def check_evaluation(evaluation: str) -> None:
  if evaluation not in EVALUATIONS:
    raise UsageError(f"unknown evaluation {evaluation!r}; choose one of {', '.join(EVALUATIONS)}")


def batch_size(ft_cfg: ml_collections.ConfigDict, labelled_examples: int) -> int:
  """The configured batch, capped at the labelled set (10 per class is one full batch of 100)."""
  return min(ft_cfg.batch_size, labelled_examples)


def cell_steps(ft_cfg: ml_collections.ConfigDict, labelled_examples: int) -> int:
  """The budget of a trained cell: at least `steps`, and at least `epochs` passes over the labelled
  set, so large labelled sets are not cut short. It depends on the labels alone, never on the
  objective, so every objective gets the same budget at each label count."""
  epoch = labelled_examples / batch_size(ft_cfg, labelled_examples)
  return max(ft_cfg.steps, math.ceil(ft_cfg.epochs * epoch))


def with_encoder(state: state_lib.TrainState, encoder_params) -> state_lib.TrainState:
  """A fresh classifier state with `encoder_params` (pretrained) in place of its encoder's. The
  optimizer state does not change: Adam's moments start at zero whatever the params."""
  if encoder_params is None:
    return state
  if jax.tree.map(jnp.shape, encoder_params) != jax.tree.map(jnp.shape, state.params["encoder"]):
    raise UsageError("the pretrained encoder's parameters do not fit this config's model")
  # a copy: the loop donates the state's buffers, and the next cell needs the originals
  return state.replace(params={**state.params, "encoder": jax.tree.map(jnp.copy, encoder_params)})


@functools.partial(jax.jit, static_argnums=0)
def _apply(apply_fn, params, x):
  return apply_fn({"params": params}, to_model(x))  # uint8 images scaled inside the jit


def in_chunks(apply_fn, params, x_Nx: np.ndarray, chunk: int = 1000) -> np.ndarray:
  """apply_fn on uint8 images (scaled to [0, 1]) or token ids, 1000 at a time."""
  return map_in_chunks(lambda x: _apply(apply_fn, params, x), x_Nx, chunk)


def accuracy(apply_fn, params, split: dict) -> float:
  """Top-1 accuracy of a classifier on a whole split."""
  logits = in_chunks(apply_fn, params, split[input_key(split)])
  return float(np.mean(np.argmax(logits, -1) == split["label"]))


def knn_accuracy(encoder, encoder_params, labelled: dict, test: dict,
                 ft_cfg: ml_collections.ConfigDict, num_classes: int) -> float:
  """Test accuracy of cosine kNN on the encoder's features of the labelled examples."""
  bank = in_chunks(encoder.apply, encoder_params, labelled[input_key(labelled)])
  query = in_chunks(encoder.apply, encoder_params, test[input_key(test)])
  predicted = knn_lib.knn_predict(bank, labelled["label"], query, ft_cfg.knn_k, num_classes,
                                  ft_cfg.knn_temperature)
  return float(np.mean(predicted == test["label"]))


def cell_config(config: ml_collections.ConfigDict, evaluation: str, labelled_examples: int,
                seed: int) -> ml_collections.ConfigDict:
  """The loop config of one trained cell: `cell_steps` at `batch_size`, or a FixMatch cell's
  steps and labelled batch from its `fixmatch` block."""
  ft = config.finetune
  steps = cell_steps(ft, labelled_examples)
  batch, eval_every = batch_size(ft, labelled_examples), steps
  c = ml_collections.ConfigDict({
      "seed": seed, "evaluation": evaluation,
      "data": config.data.to_dict(), "model": config.model.to_dict(), "finetune": ft.to_dict()})
  configs.copy_runtime_fields(config, c)
  if "finetune_augment" in config:
    c.finetune_augment = config.finetune_augment.to_dict()
  if evaluation == FIXMATCH:
    c.fixmatch = config.fixmatch.to_dict()
    steps, batch, eval_every = config.fixmatch.steps, config.fixmatch.batch_size, config.fixmatch.eval_every
  c.train = ml_collections.ConfigDict({
      "steps": steps, "batch_size": batch, "log_every": ft.log_every, "eval_every": eval_every,
      "checkpoint_every": eval_every, "max_to_keep": 1, "loop": ft.loop})
  return c


def cell_parts(config: ml_collections.ConfigDict, evaluation: str, labelled_examples: int,
               spec) -> registry.Parts:
  """The classifier objective's parts for a cell of `evaluation` at this many labels (a kNN cell
  uses the linear probe's: its fresh encoder is initialised as a trained cell's would be)."""
  name = "linear_probe" if evaluation == "knn" else evaluation
  return registry.build("classifier", name, cell_config(config, name, labelled_examples, 0), spec)


def train_cell(config: ml_collections.ConfigDict, evaluation: str, workdir: str, spec,
               encoder_params, labelled: dict, test: dict, seed: int, unlabelled: dict = None) -> float:
  """Trains one (evaluation, labelled subset, seed) cell in `workdir`; returns test accuracy.
  `encoder_params` is the pretrained encoder, or None for the from-scratch baseline; `unlabelled`
  (the whole train split) feeds FixMatch."""
  cfg = cell_config(config, evaluation, len(labelled["label"]), seed)
  data = labelled
  if evaluation == FIXMATCH:
    data = fixmatch.cell_data(labelled["image"], labelled["label"], unlabelled["image"], unlabelled["label"])
  parts = registry.build("classifier", evaluation, cfg, spec)
  task = registry.task(
      parts, init=lambda rng: with_encoder(parts.init(rng), encoder_params), show=("loss", "accuracy"),
      evaluate=lambda state, rng: {"test_accuracy": accuracy(state.apply_fn, state.params, test)})
  loop.train(cfg, workdir, task, data)
  rows = [r for r in read_metrics(workdir) if "eval/test_accuracy" in r]
  return rows[-1]["eval/test_accuracy"]
