"""Unsupervised pretraining, then a label-efficiency sweep of fine-tuning evaluations.

`train_and_evaluate(config, workdir)` is what experiments/pretrain_finetune.py runs. Layout of a
workdir:
  pretrain/OBJECTIVE/        one loop workdir per pretraining objective (none has none)
  finetune/CELL/             one loop workdir per trained cell, result.json in every cell
  summary.json, label_sweep.md, label_sweep.png
Cells are (objective, evaluation, labels per class, seed); a finished cell is never run twice,
so a killed sweep picks up where it stopped, and an unfinished one resumes from its checkpoint.
"""

import functools
import json
import os
import time

import jax
import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import finetune, pretrain, viz
from jaxunsup.data.subsets import balanced_subset
from jaxunsup.errors import UsageError
from jaxunsup.models.heads import EncoderClassifier
from jaxunsup.train import loop
from jaxunsup.train import workdir as workdir_lib

SUMMARY_FILE = "summary.json"
RESULT_FILE = "result.json"


def _check_choices(config: ml_collections.ConfigDict) -> None:
  for objective in config.pretrain.objectives:
    pretrain.check_objective(objective)
  check_sweep_lists(config)


def check_sweep_lists(config: ml_collections.ConfigDict) -> None:
  """Known evaluations, and non-empty lists of distinct objectives, evaluations, labels, seeds."""
  for evaluation in config.finetune.evaluations:
    finetune.check_evaluation(evaluation)
  for name in ("objectives", "evaluations", "labels_per_class", "seeds"):
    block = config.pretrain if name == "objectives" else config.finetune
    values = list(block[name])
    if not values or len(set(values)) != len(values):
      raise UsageError(f"{'pretrain' if name == 'objectives' else 'finetune'}.{name} must list "
                       f"distinct values, got {values!r}")


def _init_from_encoder(config: ml_collections.ConfigDict) -> tuple:
  """(objective, encoder, params) of `finetune.init_from`, checked against this config's model."""
  path = config.finetune.init_from
  phase = pretrain.read_phase_config(path)
  wanted = pretrain.encoder_description(ml_collections.ConfigDict({"model": config.model}))
  found = pretrain.encoder_description(phase)
  if wanted != found:
    diffs = ", ".join(f"{k} {found[k]} there, {wanted[k]} here" for k in wanted if wanted[k] != found[k])
    raise UsageError(f"init_from {path} was pretrained with another encoder ({diffs})")
  _, encoder, params = pretrain.load_encoder(path)
  return phase.objective, encoder, params


# The classifier and the optimizers are made once per config in a process: jit keys its caches on
# these objects, so every cell (and later sweeps in tests and notebooks) reuses the compiled steps.
@functools.lru_cache(maxsize=8)
def _model(model_json: str, num_classes: int) -> EncoderClassifier:
  return EncoderClassifier(pretrain.build_encoder(ml_collections.ConfigDict(json.loads(model_json))),
                           num_classes)


@functools.lru_cache(maxsize=32)
def _optimizer(finetune_json: str, evaluation: str, steps: int):
  return finetune.make_optimizer(ml_collections.ConfigDict(json.loads(finetune_json)),
                                 evaluation == "linear_probe", steps)


def _optimizer_for(ft: ml_collections.ConfigDict, evaluation: str, labelled_examples: int):
  fields = json.dumps({k: ft[k] for k in ("schedule", "head_lr", "encoder_lr")}, sort_keys=True)
  return _optimizer(fields, evaluation, finetune.cell_steps(ft, labelled_examples))


def _cell_name(objective: str, evaluation: str, per_class: int, seed: int) -> str:
  return f"{objective}_{evaluation}_{per_class or 'all'}pc_seed{seed}"


def run_cells(config, workdir, objective, model, params, train, test, subsets) -> list:
  """Every (evaluation, labels, seed) cell of one objective; returns result dicts."""
  num_classes = model.num_classes
  key = finetune.input_key(train)
  results = []
  for evaluation in config.finetune.evaluations:
    for (per_class, seed), idx in subsets.items():
      cell_dir = os.path.join(workdir, "finetune", _cell_name(objective, evaluation, per_class, seed))
      path = os.path.join(cell_dir, RESULT_FILE)
      if os.path.exists(path):
        with open(path) as f:
          results.append(json.load(f))
        continue
      labelled = {key: train[key][idx], "label": train["label"][idx]}
      t0 = time.perf_counter()
      tx = _optimizer_for(config.finetune, evaluation, len(idx))
      if evaluation == "knn":
        enc_params = params
        if enc_params is None:  # the from-scratch encoder, initialised as a trained cell would be
          rng = jax.random.fold_in(jax.random.key(seed), loop.INIT)
          enc_params = finetune.init_state(model, None, train[key][0], rng, tx).params["encoder"]
        acc = finetune.knn_accuracy(model.encoder, enc_params, labelled, test, config.finetune, num_classes)
      else:
        acc = finetune.train_cell(config, evaluation, cell_dir, model, params, labelled, test, seed, tx)
      result = {"objective": objective, "evaluation": evaluation, "labels_per_class": per_class,
                "labelled_examples": len(idx), "seed": seed, "test_accuracy": acc,
                "seconds": round(time.perf_counter() - t0, 2)}
      os.makedirs(cell_dir, exist_ok=True)
      workdir_lib.write_json(path, result)
      results.append(result)
  return results


def aggregate(results: list) -> list:
  """Mean and sample std of test accuracy over seeds for each (objective, evaluation, labels) cell."""
  groups = {}
  for r in results:
    groups.setdefault((r["objective"], r["evaluation"], r["labels_per_class"]), []).append(r)
  rows = []
  for (objective, evaluation, per_class), rs in groups.items():
    acc = np.array([r["test_accuracy"] for r in sorted(rs, key=lambda r: r["seed"])])
    rows.append({"objective": objective, "evaluation": evaluation, "labels_per_class": per_class,
                 "labelled_examples": rs[0]["labelled_examples"], "seeds": len(acc),
                 "accuracy_mean": float(acc.mean()),
                 "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                 "accuracies": acc.tolist(), "seconds": round(sum(r["seconds"] for r in rs), 2)})
  return rows


def markdown_table(rows: list, title: str) -> str:
  """Test accuracy (%) mean +- std over seeds: one row per (objective, evaluation)."""
  levels = sorted({r["labels_per_class"] for r in rows}, key=lambda v: v or float("inf"))
  header = " | ".join(f"{v} per class" if v else "all labels" for v in levels)
  lines = [f"## {title}", "", "Test accuracy (%), mean +- std over seeds.", "",
           f"| objective | evaluation | {header} |", "|---|---|" + "---|" * len(levels)]
  by_key = {(r["objective"], r["evaluation"], r["labels_per_class"]): r for r in rows}
  for objective, evaluation in dict.fromkeys((r["objective"], r["evaluation"]) for r in rows):
    cells = [by_key.get((objective, evaluation, v)) for v in levels]
    text = [f"{100 * c['accuracy_mean']:.2f} +- {100 * c['accuracy_std']:.2f}" if c else "-" for c in cells]
    lines.append(f"| {objective} | {evaluation} | " + " | ".join(text) + " |")
  return "\n".join(lines) + "\n"


def label_subsets(config: ml_collections.ConfigDict, train_labels_N: np.ndarray) -> dict:
  """The labelled subsets of every (labels per class, seed); UsageError if a class has too few."""
  return {(per_class, seed): balanced_subset(train_labels_N, per_class, seed)
          for per_class in config.finetune.labels_per_class for seed in config.finetune.seeds}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Pretrains every objective, runs the label sweep, writes summary.json and figures."""
  _check_choices(config)
  init = _init_from_encoder(config) if config.finetune.init_from else None
  train, test = data_lib.load_splits(config.data)
  subsets = label_subsets(config, train["label"])  # refuses too many labels before anything is written
  workdir_lib.check_config(config, workdir, has_checkpoint=False)
  os.makedirs(workdir, exist_ok=True)
  workdir_lib.write_json(os.path.join(workdir, workdir_lib.CONFIG_FILE), workdir_lib.config_to_json(config))

  t0 = time.perf_counter()
  pretrain_info, results = {}, []
  objectives = [init[0]] if init else list(config.pretrain.objectives)
  eval_x = test["image"][:config.pretrain.eval_examples].astype(np.float32) / 255.0
  model = _model(config.model.to_json(sort_keys=True), data_lib.num_classes(config.data.name))
  for objective in objectives:
    if init:
      params = init[2]
      pretrain_info[objective] = {"init_from": config.finetune.init_from}
    elif objective == "none":
      params = None
    else:
      phase_dir = os.path.join(workdir, "pretrain", objective)
      result = pretrain.run(config, objective, phase_dir, train, eval_x)
      params = result.state.encoder.params
      pretrain_info[objective] = {"steps": result.steps, "train_seconds": round(result.train_seconds, 2),
                                  "workdir": phase_dir}
    results += run_cells(config, workdir, objective, model, params, train, test, subsets)

  return write_sweep(config, workdir, results, subsets, data_lib.num_classes(config.data.name),
                     len(train["label"]), pretrain_info, t0)


def write_sweep(config: ml_collections.ConfigDict, workdir: str, results: list, subsets: dict,
                num_classes: int, train_examples: int, pretrain_info: dict, t0: float, **extra) -> dict:
  """Aggregates the cells over seeds and writes label_sweep.md, label_sweep.png and summary.json
  (with `extra` fields after the dataset's name); returns the summary."""
  rows = aggregate(results)
  name = config.data.name
  table = markdown_table(rows, f"Label sweep on {name}")
  with open(os.path.join(workdir, "label_sweep.md"), "w") as f:
    f.write(table)
  viz.save_label_sweep(os.path.join(workdir, "label_sweep.png"), rows, train_examples // num_classes,
                       f"Label sweep on {name}")
  summary = {"dataset": name, **extra, "pretrain": pretrain_info, "cells": rows,
             "finetune_steps": {str(k or "all"): finetune.cell_steps(config.finetune, len(idx))
                                for (k, seed), idx in subsets.items() if seed == config.finetune.seeds[0]},
             "seconds_this_invocation": round(time.perf_counter() - t0, 2)}
  workdir_lib.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  return summary
