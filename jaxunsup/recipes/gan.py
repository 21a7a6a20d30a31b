"""GANs (mlp, dcgan, wgan_gp, cgan, sngan, infogan): training, sample-quality evaluation and a sampling API.

`train_and_evaluate(config, workdir)` is what experiments/gan.py runs; `load(workdir)` gives
notebooks a `GAN` with `sample`, `generate` and `interpolate`; `write_samples` is the launcher's
`--mode=sample` and `truncation_study` its `--mode=truncation`.
"""

import glob
import json
import os

import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import configs, trained, viz
from jaxunsup.configs import gan as gan_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import clustering
from jaxunsup.eval.sample_quality import SampleScorer, cached_scorer
from jaxunsup.objectives import registry
from jaxunsup.train import files, loop
from jaxunsup.train.metrics_writer import read_metrics
from jaxunsup.trained import to_uint8

SUMMARY_FILE = "summary.json"
PROGRESS_DIR = "progress"
TRUNCATION_DIR = "truncation"

def check(config: ml_collections.ConfigDict) -> registry.Objective:
  """The objective `config.model.name` names; UsageError on a bad name or setting."""
  configs.check_values(config, gan_configs)
  objective = registry.get("gan", config.model.name)
  objective.check(config)
  return objective


def scorer_for(config: ml_collections.ConfigDict) -> SampleScorer | None:
  """The dataset's sample scorer, or None for a dataset without labels: its evaluator is a
  classifier trained on them, so such a GAN trains and draws but is not scored."""
  if not data_lib.num_classes(config.data.name):
    return None
  return cached_scorer(config.data.name, config.eval.k)


def make_task(config: ml_collections.ConfigDict, spec, scorer: SampleScorer | None, workdir: str) -> loop.Task:
  """The loop's view of a GAN. Each eval scores `eval.periodic_samples` samples (fixed noise) and
  saves the fixed-noise grid samples under progress/ for the progress figure."""
  objective = check(config)
  parts = registry.parts(objective, config, spec)
  ec = config.eval
  eval_seed = config.seed + 1  # the same noise at every eval, so the figures show progress

  def evaluate(state, rng):
    del rng
    model = trained.GAN(config, state, spec, objective)
    step_num = int(state.gen.step)
    samples = model.sample(ec.periodic_samples, eval_seed)
    out = {}
    if scorer is not None:
      scores = score(scorer, model, samples)
      out = {k: float(v) for k, v in scores.items() if k not in ("num_samples", "evaluator_test_accuracy")}
    if config.model.ema_decay and scorer is not None:
      out["ema_fid"] = float(scorer(model.sample(ec.periodic_samples, eval_seed, ema=True))["fid"])
    files.save_npy(os.path.join(workdir, PROGRESS_DIR, f"step_{step_num:08d}.npy"),
                   to_uint8(samples[:ec.grid_samples]))
    return out

  return registry.task(parts, evaluate=evaluate, show=("d_loss", "g_loss"))


def score(scorer: SampleScorer, model: trained.GAN, samples: np.ndarray) -> dict:
  """The scorer's figures for samples drawn with `model.default_labels`. Codes the generator gave
  meaning to itself (InfoGAN) are no classes to check: instead `code_accuracy`, the share of
  samples whose evaluator class is the one their code matches best (Hungarian matching)."""
  labels = model.default_labels(len(samples))
  if labels is None or model.labels_are_classes:
    return scorer(samples, labels)
  _, predicted = scorer.evaluator.apply(samples)
  category = labels[:, 0].astype(int) if labels.ndim == 2 else labels  # beside continuous codes
  return {**scorer(samples), "code_accuracy": clustering.hungarian_accuracy(predicted, category)}


def write_figures(workdir: str, model: trained.GAN, samples: np.ndarray, class_names) -> None:
  """samples.png, progress.png (fixed noise over training), interpolation.png, curves.png,
  class_grid.png for conditional models and continuous_code_J.png for InfoGAN's continuous codes."""
  name = f"{model.config.model.name} on {model.config.data.name}"
  viz.save_grid(os.path.join(workdir, "samples.png"), samples[:100], f"{name}: samples")
  snapshots = sorted(glob.glob(os.path.join(workdir, PROGRESS_DIR, "step_*.npy")))
  if snapshots:
    steps = [int(os.path.basename(p)[5:13]) for p in snapshots]
    rows = np.concatenate([np.load(p).astype(np.float32) / 255 for p in snapshots])
    viz.save_grid(os.path.join(workdir, "progress.png"), rows,
                  f"{name}: fixed noise at steps {', '.join(map(str, steps))} (one row each)",
                  ncol=len(rows) // len(snapshots))
  steps = 10
  viz.save_grid(os.path.join(workdir, "interpolation.png"), model.interpolate(5, steps, model.config.seed),
                f"{name}: straight lines in z (one pair per row)", ncol=steps)
  if model.num_classes:
    per_class = 10
    labels = np.repeat(np.arange(model.num_classes), per_class)
    rows = f"one row per class ({', '.join(class_names)})" if model.labels_are_classes else \
        "one row per value of the code it found"
    viz.save_grid(os.path.join(workdir, "class_grid.png"),
                  model.generate(model.latents(len(labels), model.config.seed), labels), f"{name}: {rows}",
                  ncol=per_class)
  values = np.linspace(-2.0, 2.0, 10)  # twice the training range, as the paper's figures
  for j in range(model.continuous_codes):
    viz.save_grid(os.path.join(workdir, f"continuous_code_{j}.png"),
                  model.code_traversal(j, values, model.config.seed),
                  f"{name}: continuous code {j} from -2 to 2 along each row, one row per category", ncol=len(values))
  viz.save_curves(os.path.join(workdir, "curves.png"), read_metrics(workdir),
                  ["train/d_loss", "train/g_loss", "eval/fid", "eval/precision", "eval/recall"], name)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the configured GAN in `workdir` (resuming if possible), scores it, returns the summary."""
  objective = check(config)  # validate before touching data or the workdir
  train, _ = data_lib.open_splits(config.data)  # read whole or streamed, as data.pipeline says
  spec = data_lib.input_spec(config.data.name)
  scorer = scorer_for(config)
  task = make_task(config, spec, scorer, workdir)
  with files.workdir_lock(workdir):  # held until the last figure is written
    result = loop.train(config, workdir, task, train)
    model = trained.GAN(config, result.state, spec, objective)

    samples = model.sample(config.eval.num_samples, config.seed)
    summary = {"dataset": config.data.name, "model": config.model.name, "steps": result.steps,
               "train_seconds": round(result.train_seconds, 2)}
    if scorer is None:
      summary["scores"] = f"not scored: {config.data.name} has no labels to train the evaluator on"
    else:
      summary.update(score(scorer, model, samples))
    if config.model.ema_decay and scorer is not None:
      ema = score(scorer, model, model.sample(config.eval.num_samples, config.seed, ema=True))
      summary.update({f"ema_{k}": v for k, v in ema.items() if k not in ("num_samples", "evaluator_test_accuracy")})
    files.save_npy(os.path.join(workdir, "samples.npy"), to_uint8(samples))
    write_figures(workdir, model, samples, data_lib.spec(config.data.name).class_names)
    files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
    return summary


def load(workdir: str) -> trained.GAN:
  """The GAN saved in `workdir` (its latest checkpoint)."""
  model = trained.load(workdir)
  if not isinstance(model, trained.GAN):
    raise UsageError(f"{workdir} holds a {model.objective.family} run, not a GAN")
  return model


def write_samples(workdir: str, out: str, num: int, seed: int, ema: bool = False,
                  truncation: float | None = None) -> str:
  """`num` uint8 samples of the GAN in `workdir` to the .npy file `out`, which must not exist."""
  if num < 1:
    raise UsageError(f"--num_samples must be positive, got {num}")
  if truncation is not None:
    check_truncations([truncation])
  if os.path.exists(out):
    raise UsageError(f"{out} exists; choose another --out (nothing is overwritten)")
  model = load(workdir)
  files.save_npy(out, to_uint8(model.sample(num, seed, ema=ema, truncation=truncation)))
  return out


def check_truncations(values) -> list[float | None]:
  """Truncation thresholds from numbers or strings; `none` is the untruncated normal."""
  out = []
  for v in values:
    t = None if str(v).strip().lower() == "none" else _positive(v)
    if t in out:
      raise UsageError(f"truncation threshold {v} is given twice")
    out.append(t)
  if not out:
    raise UsageError("give at least one truncation threshold")
  return out


def _positive(v) -> float:
  try:
    t = float(v)
  except ValueError:
    raise UsageError(f"truncation threshold {v!r} is neither a number nor `none`") from None
  if not 0 < t < float("inf"):
    raise UsageError(f"a truncation threshold must be a positive number, got {v}")
  return t


def truncation_study(workdir: str, truncations, num: int, seed: int, ema: bool = False) -> list[dict]:
  """Scores `num` samples of the GAN in `workdir` at each truncation threshold, into WORKDIR/truncation/:
  one JSON per threshold (read back on a rerun with the same settings), curves.png (fid, precision,
  recall against the threshold) and samples.png (the same latents at each threshold, one row each)."""
  thresholds = check_truncations(truncations)
  if num < 2:
    raise UsageError(f"--num_samples must be at least 2 to score, got {num}")
  model = load(workdir)
  if not data_lib.num_classes(model.config.data.name):
    raise UsageError(f"{model.config.data.name} has no labels to train the evaluator on; nothing to score")
  out_dir = os.path.join(workdir, TRUNCATION_DIR)
  suffix = "_ema" if ema else ""
  setting = {"num_samples": num, "seed": seed, "ema": ema, "step": int(model.state.gen.step)}
  with files.workdir_lock(workdir):
    rows = [_truncation_row(model, os.path.join(out_dir, f"{t or 'none'}{suffix}.json"), {**setting, "truncation": t})
            for t in thresholds]
    names = [str(t or "none") for t in thresholds]
    title = f"{model.config.model.name} on {model.config.data.name}, {num} samples{', EMA' if ema else ''}"
    viz.save_sweep(os.path.join(out_dir, f"curves{suffix}.png"), names,
                   {"fid": {"fid": [r["fid"] for r in rows]},
                    "precision, recall": {k: [r[k] for r in rows] for k in ("precision", "recall")}},
                   "truncation threshold", title)
    viz.save_traversals(os.path.join(out_dir, f"samples{suffix}.png"),
                        np.concatenate([model.sample(10, seed, ema=ema, truncation=t) for t in thresholds]),
                        names, f"{title}: the same latents, one row per threshold")
  return rows


def _truncation_row(model: trained.GAN, path: str, setting: dict) -> dict:
  """One threshold's scores: read back from `path` if it holds these settings, else scored and written."""
  if os.path.exists(path):
    with open(path) as f:
      row = json.load(f)
    if {k: row.get(k) for k in setting} != setting:
      raise UsageError(f"{path} was scored with other settings ({ {k: row.get(k) for k in setting} }); "
                       "move it away to score these (nothing is overwritten)")
    return row
  scorer = cached_scorer(model.config.data.name, model.config.eval.k)
  samples = model.sample(setting["num_samples"], setting["seed"], ema=setting["ema"], truncation=setting["truncation"])
  row = {**score(scorer, model, samples), **setting}
  files.write_json(path, row)
  return row
