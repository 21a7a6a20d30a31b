"""Unsupervised pretraining, then a label-efficiency sweep of fine-tuning evaluations.

`train_and_evaluate(config, workdir)` is what experiments/pretrain_finetune.py runs. Layout of a
workdir:
  pretrain/OBJECTIVE/        one loop workdir per pretraining objective (none has none)
  finetune/CELL/             one loop workdir per trained cell, result.json in every cell
  summary.json, label_sweep.md, label_sweep.png
Cells (jaxunsup/sweep.py) are (objective, evaluation, labels per class, seed); a finished cell is
never run twice, so a killed sweep picks up where it stopped, and an unfinished one resumes from
its checkpoint. Every registered objective of the `pretrain` family can be swept. Under
`data.pipeline=stream` (or `auto`, for a split too large to hold) the train split is never read
whole unless a semi-supervised evaluation trains on all of it.
"""

import os
import time

import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import configs, pretrain, semi, sweep, trained
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.errors import UsageError
from jaxunsup.train import files, stream, workdir as workdir_lib


def _check_choices(config: ml_collections.ConfigDict) -> None:
  configs.check_values(config, pf_configs)
  data_lib.require_labels(config.data.name, "the label sweep")
  for objective in config.pretrain.objectives:
    pretrain.check_objective(objective)
  sweep.check_sweep_lists(config)


def encoder_description(config: ml_collections.ConfigDict) -> dict:
  """The conv backbone's architecture as an experiment or pretraining config records it."""
  m = config.model
  return {"features": list(m.features), "stage_convs": m.get("stage_convs", 1),
          "rep_dim": m.rep_dim if "rep_dim" in m else m.latent_dim, "activation": m.activation}


def _init_from_m1(config: ml_collections.ConfigDict, path: str) -> tuple:
  """(objective, the loaded run) of an autoencoder-family `init_from`: M1 of the m2 evaluation."""
  if tuple(config.finetune.evaluations) != (semi.EVALUATION,):
    raise UsageError(f"init_from {path} is an autoencoder run, which only the m2 evaluation reads; "
                     f"set --config.finetune.evaluations=\"('m2',)\"")
  model = trained.load(path)
  if model.parts.posterior is None:
    raise UsageError(f"init_from {path} trains {model.objective.name}, which has no Gaussian posterior "
                     "for M1+M2; train a vae (autoencoder.py:m1)")
  if model.config.data.name != config.data.name:
    raise UsageError(f"init_from {path} was trained on {model.config.data.name}, not {config.data.name}")
  return model.objective.name, model


def _init_from_encoder(config: ml_collections.ConfigDict) -> tuple:
  """(objective, params) of `finetune.init_from`, checked against this config's model; for an
  autoencoder-family run (M1 of M1+M2), (objective, the loaded run)."""
  path = config.finetune.init_from
  if os.path.exists(os.path.join(path, "config.json")):
    saved = trained.read_config(path)
    if "objective" not in saved and "n_critic" not in saved.get("train", {}):
      return _init_from_m1(config, path)
  phase = pretrain.read_phase_config(path)
  wanted = encoder_description(ml_collections.ConfigDict({"model": config.model}))
  found = encoder_description(phase)
  if wanted != found:
    diffs = ", ".join(f"{k} {found[k]} there, {wanted[k]} here" for k in wanted if wanted[k] != found[k])
    raise UsageError(f"init_from {path} was pretrained with another encoder ({diffs})")
  _, _, params = pretrain.load_encoder(path)
  return phase.objective, params


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Pretrains every objective, runs the label sweep, writes summary.json and figures."""
  _check_choices(config)
  init = _init_from_encoder(config) if config.finetune.init_from else None
  train, labels, unlabelled, test = _open_train(config)
  subsets = sweep.label_subsets(config, labels)  # refuses too many labels before anything is written
  with files.workdir_lock(workdir):
    workdir_lib.start(config, workdir, defaults=pf_configs.base())
    t0 = time.perf_counter()
    spec = data_lib.input_spec(config.data.name)
    eval_x = test["image"][:config.pretrain.eval_examples].astype(np.float32) / 255.0
    results, pretrain_info, _, _ = sweep.pretrain_and_run(config, workdir, "pretrain", spec, train, test,
                                                          unlabelled, eval_x, subsets, init)
    return sweep.write_sweep(config, workdir, results, subsets, spec.num_classes, len(labels),
                             pretrain_info, t0)


def _open_train(config: ml_collections.ConfigDict) -> tuple:
  """(train split, its labels, what pretraining reads, test split). Where `data.pipeline` streams
  the train split, it stays a reader: pretraining streams its images (without their labels) and
  each cell reads its few labelled examples, so the split is never held whole. The semi-supervised
  evaluations train on every image and read the split whole under any pipeline."""
  stream.check(config.data)
  reader, test = data_lib.open_splits(config.data)
  if stream.streams(config.data, reader) and not set(config.finetune.evaluations) & set(sweep.SEMI_SUPERVISED):
    return reader, reader.labels(), reader.only("image"), test
  train = reader.read(np.arange(len(reader)))
  return train, train["label"], train["image"], test  # pretraining reads images without labels


