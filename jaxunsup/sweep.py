"""The label sweep shared by the image and text pretraining recipes: cells, their results,
and the tables and figures over seeds.

Cells are (objective, evaluation, labels per class, seed); each trained cell is one loop workdir
under finetune/, with result.json once finished, so a killed sweep picks up where it stopped.
"""

import json
import os
import sys
import time

import jax
import ml_collections
import numpy as np

from jaxunsup import finetune, pretrain, semi, viz
from jaxunsup.data.subsets import balanced_subset
from jaxunsup.errors import UsageError
from jaxunsup.objectives import m2 as m2_lib
from jaxunsup.objectives import registry
from jaxunsup.train import loop
from jaxunsup.train import files
from jaxunsup.train.metrics_writer import read_metrics

SUMMARY_FILE = "summary.json"
RESULT_FILE = "result.json"
# the evaluations that also train on every unlabelled image, each with its own config block and
# a curve of test accuracy against step (EVALUATION_curves.png)
SEMI_SUPERVISED = (semi.EVALUATION, finetune.FIXMATCH)


def check_sweep_lists(config: ml_collections.ConfigDict) -> None:
  """Known evaluations, and non-empty lists of distinct objectives, evaluations, labels, seeds."""
  for evaluation in config.finetune.evaluations:
    finetune.check_evaluation(evaluation)
    if evaluation in SEMI_SUPERVISED and evaluation not in config:
      raise UsageError(f"the {evaluation} evaluation trains on images; the text sweep has no {evaluation}")
    # a trained evaluation's own settings, before anything is pretrained
    if evaluation in registry.names("classifier"):
      registry.get("classifier", evaluation).check(finetune.cell_config(config, evaluation, 1, 0))
    elif evaluation == semi.EVALUATION:
      m2_lib.check(config.m2)
  for name in ("objectives", "evaluations", "labels_per_class", "seeds"):
    block = config.pretrain if name == "objectives" else config.finetune
    values = list(block[name])
    if not values or len(set(values)) != len(values):
      raise UsageError(f"{'pretrain' if name == 'objectives' else 'finetune'}.{name} must list "
                       f"distinct values, got {values!r}")


def _cell_name(objective: str, evaluation: str, per_class: int, seed: int) -> str:
  return f"{objective}_{evaluation}_{per_class or 'all'}pc_seed{seed}"


def _take(train, key: str, idx: np.ndarray) -> dict:
  """The inputs and labels of examples `idx` of the train split, held whole or read by a reader."""
  if isinstance(train, dict):
    return {key: train[key][idx], "label": train["label"][idx]}
  part = train.read(idx)
  return {key: part[key], "label": part["label"]}


def run_cells(config, workdir, objective, spec, params, train, test, subsets) -> list:
  """Every (evaluation, labels, seed) cell of one objective (`params`: its pretrained encoder, None
  from scratch, or for m2 alone a loaded VAE run); returns result dicts. `train` is the split's
  arrays, or its reader where no cell trains on every image (the semi-supervised ones do)."""
  key = spec.key
  results, read_back, m2_features = [], 0, []
  for evaluation in config.finetune.evaluations:
    for (per_class, seed), idx in subsets.items():
      cell_dir = os.path.join(workdir, "finetune", _cell_name(objective, evaluation, per_class, seed))
      path = os.path.join(cell_dir, RESULT_FILE)
      if os.path.exists(path):
        with open(path) as f:
          results.append(json.load(f))
        read_back += 1
        continue
      labelled = _take(train, key, idx)
      t0 = time.perf_counter()
      if evaluation == "knn":
        parts = finetune.cell_parts(config, evaluation, len(idx), spec)
        enc_params = params
        if enc_params is None:  # the from-scratch encoder, initialised as a trained cell would be
          enc_params = parts.encoder_params(parts.init(jax.random.fold_in(jax.random.key(seed), loop.INIT)))
        acc = finetune.knn_accuracy(parts.modules["encoder"], enc_params, labelled, test, config.finetune,
                                    spec.num_classes)
      elif evaluation == semi.EVALUATION:
        if not m2_features:  # once per objective: every image through the encoder
          encoder = semi.encoder_of(config, spec, params, len(idx))
          m2_features.append(semi.features(config.m2, encoder, train[key], test[key]))
        acc = semi.train_cell(config, cell_dir, m2_features[0], idx, train["label"], test["label"],
                              spec.num_classes, seed)
      else:
        acc = finetune.train_cell(config, evaluation, cell_dir, spec, params, labelled, test, seed,
                                  unlabelled=train)
      result = {"objective": objective, "evaluation": evaluation, "labels_per_class": per_class,
                "labelled_examples": len(idx), "seed": seed, "test_accuracy": acc,
                "seconds": round(time.perf_counter() - t0, 2)}
      files.write_json(path, result)
      results.append(result)
  if read_back:
    print(f"{workdir}: {read_back} finished {objective} cells read back", file=sys.stderr)
  return results


def pretrain_and_run(config: ml_collections.ConfigDict, workdir: str, family: str, spec, train: dict,
                     test: dict, unlabelled, eval_x: np.ndarray, subsets: dict, init=None,
                     before_phase=None, **context) -> tuple:
  """Every objective of `config.pretrain.objectives` of `family` (or the `init` = (objective,
  encoder params) of `finetune.init_from`): pretrains it on `unlabelled` inputs (or their reader) in
  pretrain/OBJECTIVE/ (resuming), then runs its cells. `before_phase(phase_dir)` may add files to
  a pretraining workdir first (the text sweep's tokenizer); `context` is what the family's
  phase configs record besides. Returns (results, pretrain_info, {objective: (parts, state)} of
  the objectives pretrained here, {objective: encoder params})."""
  results, info, pretrained, encoders = [], {}, {}, {}
  for objective in [init[0]] if init else list(config.pretrain.objectives):
    if init:
      params = init[1]
      info[objective] = {"init_from": config.finetune.init_from}
    elif objective == pretrain.NONE:
      params = None
    else:
      phase_dir = os.path.join(workdir, "pretrain", objective)
      if before_phase is not None:
        before_phase(phase_dir)
      phase = pretrain.phase_config(config, objective, family, **context)
      result = pretrain.run(phase, phase_dir, unlabelled, eval_x, spec, family)
      parts = registry.build(family, objective, phase, spec)
      params = parts.encoder_params(result.state)
      pretrained[objective] = (parts, result.state)
      info[objective] = {"steps": result.steps, "train_seconds": round(result.train_seconds, 2),
                         "workdir": phase_dir}
    if params is not None:
      encoders[objective] = params
    results += run_cells(config, workdir, objective, spec, params, train, test, subsets)
  return results, info, pretrained, encoders


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


def _save_curves(workdir: str, results: list, name: str, evaluation: str) -> None:
  """EVALUATION_curves.png: test accuracy against step of every cell of a semi-supervised
  evaluation (they train long; the curve says whether more steps would pay)."""
  curves = {}
  for r in sorted(results, key=lambda r: (r["objective"], r["labels_per_class"], r["seed"])):
    if r["evaluation"] != evaluation:
      continue
    cell = _cell_name(r["objective"], r["evaluation"], r["labels_per_class"], r["seed"])
    rows = [m for m in read_metrics(os.path.join(workdir, "finetune", cell)) if "eval/test_accuracy" in m]
    curves[cell] = ([m["step"] for m in rows], [m["eval/test_accuracy"] for m in rows])
  if curves:
    viz.save_step_curves(os.path.join(workdir, f"{evaluation}_curves.png"), curves, "test accuracy",
                         f"{evaluation} on {name}: test accuracy while training")


def write_sweep(config: ml_collections.ConfigDict, workdir: str, results: list, subsets: dict,
                num_classes: int, train_examples: int, pretrain_info: dict, t0: float, **extra) -> dict:
  """Aggregates the cells over seeds and writes label_sweep.md, label_sweep.png, m2_curves.png and
  fixmatch_curves.png where there are such cells, and summary.json (with `extra` fields after the
  dataset's name); returns the summary."""
  rows = aggregate(results)
  name = config.data.name
  table = markdown_table(rows, f"Label sweep on {name}")
  files.write_text(os.path.join(workdir, "label_sweep.md"), table)
  viz.save_label_sweep(os.path.join(workdir, "label_sweep.png"), rows, train_examples // num_classes,
                       f"Label sweep on {name}")
  for evaluation in SEMI_SUPERVISED:
    _save_curves(workdir, results, name, evaluation)
  # the steps of the linear_probe and finetune cells at each label count; m2 and fixmatch cells
  # train their own blocks' steps
  steps = {str(k or "all"): finetune.cell_steps(config.finetune, len(idx))
           for (k, seed), idx in subsets.items() if seed == config.finetune.seeds[0]}
  summary = {"dataset": name, **extra, "pretrain": pretrain_info, "cells": rows,
             "finetune_steps": steps if {"linear_probe", "finetune"} & set(config.finetune.evaluations) else {},
             "seconds_this_invocation": round(time.perf_counter() - t0, 2)}
  files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  return summary
