"""GANs (mlp, dcgan, wgan_gp, cgan): training, sample-quality evaluation and a sampling API.

`train_and_evaluate(config, workdir)` is what experiments/gan.py runs; `load(workdir)` gives
notebooks a `GAN` with `sample`, `generate` and `interpolate`; `write_samples` is the launcher's
`--mode=sample`.
"""

import dataclasses
import functools
import glob
import os
from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxunsup import data as data_lib
from jaxunsup import models, viz
from jaxunsup.errors import UsageError
from jaxunsup.eval.sample_quality import SampleScorer, cached_scorer
from jaxunsup.objectives import gan as gan_obj
from jaxunsup.train import checkpoint, loop
from jaxunsup.train.metrics_writer import read_metrics
from jaxunsup.train.state import GANState, GenState, TrainState
from jaxunsup.train.workdir import write_json

SUMMARY_FILE = "summary.json"
PROGRESS_DIR = "progress"

# model.name -> (architecture, objective, class-conditional)
MODELS = {
    "mlp": ("mlp", "non_saturating", False),
    "dcgan": ("dcgan", "non_saturating", False),
    "wgan_gp": ("dcgan", "wgan_gp", False),
    "cgan": ("dcgan", "non_saturating", True),
}


def describe(config: ml_collections.ConfigDict) -> tuple:
  """(arch, objective, num_classes) of the configured model; UsageError on bad names or values."""
  name = config.model.name
  if name not in MODELS:
    raise UsageError(f"unknown GAN type {name!r}; choose one of {', '.join(MODELS)}")
  arch, objective, conditional = MODELS[name]
  if objective == "wgan_gp" and (not isinstance(config.train.n_critic, int) or config.train.n_critic < 1):
    raise UsageError(f"train.n_critic must be an integer >= 1, got {config.train.n_critic!r}")
  if not 0.0 <= config.model.ema_decay < 1.0:
    raise UsageError(f"model.ema_decay must be in [0, 1), got {config.model.ema_decay}")
  return arch, objective, data_lib.num_classes(config.data.name) if conditional else 0


def init_state(config: ml_collections.ConfigDict, image_shape, rng: jax.Array) -> GANState:
  """Fresh generator and discriminator, each with its own Adam state, and the generator's EMA."""
  arch, _, num_classes = describe(config)
  gen, disc = models.build_gan(arch, config.model, image_shape, num_classes)
  gen_key, disc_key = jax.random.split(rng)
  labels = jnp.zeros((2,), jnp.int32) if num_classes else None
  gen_vars = gen.init(gen_key, jnp.zeros((2, config.model.latent_dim)), labels, train=False)
  disc_params = disc.init(disc_key, jnp.zeros((2, *image_shape)), labels)["params"]
  tc = config.train
  batch_stats = gen_vars.get("batch_stats", {})
  return GANState(
      gen=GenState.create(apply_fn=gen.apply, params=gen_vars["params"], batch_stats=batch_stats,
                          tx=optax.adam(tc.gen_lr, tc.beta1, tc.beta2)),
      disc=TrainState.create(apply_fn=disc.apply, params=disc_params,
                             tx=optax.adam(tc.disc_lr, tc.beta1, tc.beta2)),
      # copies: the EMA must not share buffers with the params, which the loop donates
      ema=jax.tree.map(jnp.copy, {"params": gen_vars["params"], "batch_stats": batch_stats}))


def bound_train_step(config: ml_collections.ConfigDict):
  """The objective's train step with the config's static choices bound, and examples per step."""
  _, objective, num_classes = describe(config)
  common = dict(latent_dim=config.model.latent_dim, num_classes=num_classes, ema_decay=config.model.ema_decay)
  if objective == "wgan_gp":
    step = functools.partial(gan_obj.wgan_gp_step, n_critic=config.train.n_critic,
                             gp_weight=config.train.gp_weight, **common)
    return step, config.train.batch_size * config.train.n_critic
  return functools.partial(gan_obj.non_saturating_step, **common), config.train.batch_size


@functools.partial(jax.jit, static_argnums=0)
def _generate(apply_fn, variables, z_BxD, labels_B):
  return (apply_fn(variables, z_BxD, labels_B, train=False) + 1.0) / 2.0


@dataclasses.dataclass
class GAN:
  """A trained generator (and its EMA), usable from notebooks and scripts."""
  config: ml_collections.ConfigDict
  state: GANState
  image_shape: tuple
  num_classes: int  # 0 when unconditional

  def variables(self, ema: bool = False) -> dict:
    if ema:
      return self.state.ema
    return {"params": self.state.gen.params, "batch_stats": self.state.gen.batch_stats}

  def generate(self, z_NxD: np.ndarray, labels_N: Optional[np.ndarray] = None, ema: bool = False,
               chunk: int = 1000) -> np.ndarray:
    """G(z, y) as float images in [0, 1], (N, H, W, C); batch norm uses its running averages."""
    z = np.asarray(z_NxD, np.float32)
    if self.num_classes and labels_N is None:
      raise UsageError("a conditional GAN needs labels")
    out = []
    for i in range(0, len(z), chunk):
      y = jnp.asarray(labels_N[i:i + chunk], jnp.int32) if self.num_classes else None
      out.append(np.asarray(_generate(self.state.gen.apply_fn, self.variables(ema), jnp.asarray(z[i:i + chunk]), y)))
    return np.concatenate(out)

  def latents(self, num: int, seed: int = 0) -> np.ndarray:
    return np.asarray(jax.random.normal(jax.random.key(seed), (num, self.config.model.latent_dim)))

  def default_labels(self, num: int) -> Optional[np.ndarray]:
    """Classes in turn (0, 1, ..., 0, 1, ...) for a conditional GAN, so every class is equally present."""
    return np.arange(num) % self.num_classes if self.num_classes else None

  def sample(self, num: int, seed: int = 0, labels: Optional[np.ndarray] = None, ema: bool = False) -> np.ndarray:
    """`num` samples in [0, 1] from z ~ N(0, I) drawn with `seed`."""
    labels = self.default_labels(num) if labels is None else np.asarray(labels)
    return self.generate(self.latents(num, seed), labels, ema)

  def interpolate(self, num_pairs: int = 5, steps: int = 10, seed: int = 0, ema: bool = False) -> np.ndarray:
    """Images along straight lines in z between random pairs: (num_pairs * steps, H, W, C)."""
    ends = self.latents(2 * num_pairs, seed).reshape((num_pairs, 2, -1))
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    z = ((1 - t) * ends[:, :1] + t * ends[:, 1:]).reshape((num_pairs * steps, -1))
    labels = np.repeat(np.arange(num_pairs) % self.num_classes, steps) if self.num_classes else None
    return self.generate(z, labels, ema)


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


def make_task(config: ml_collections.ConfigDict, image_shape, scorer: SampleScorer, workdir: str) -> loop.Task:
  """The loop's view of a GAN. Each eval scores `eval.periodic_samples` samples (fixed noise) and
  saves the fixed-noise grid samples under progress/ for the progress figure."""
  _, _, num_classes = describe(config)
  step, per_step = bound_train_step(config)
  ec = config.eval
  eval_seed = config.seed + 1  # the same noise at every eval, so the figures show progress

  def evaluate(state, rng):
    del rng
    model = GAN(config, state, tuple(image_shape), num_classes)
    step_num = int(state.gen.step)
    samples = model.sample(ec.periodic_samples, eval_seed)
    scores = scorer(samples, model.default_labels(len(samples)))
    out = {k: float(v) for k, v in scores.items() if k not in ("num_samples", "evaluator_test_accuracy")}
    if config.model.ema_decay:
      out["ema_fid"] = float(scorer(model.sample(ec.periodic_samples, eval_seed, ema=True))["fid"])
    os.makedirs(os.path.join(workdir, PROGRESS_DIR), exist_ok=True)
    np.save(os.path.join(workdir, PROGRESS_DIR, f"step_{step_num:08d}.npy"), to_uint8(samples[:ec.grid_samples]))
    return out

  return loop.Task(init=lambda rng: init_state(config, image_shape, rng), train_step=step,
                   evaluate=evaluate, examples_per_step=per_step)


def write_figures(workdir: str, model: GAN, samples: np.ndarray, class_names) -> None:
  """samples.png, progress.png (fixed noise over training), interpolation.png, curves.png, and
  class_grid.png for conditional models."""
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
    viz.save_grid(os.path.join(workdir, "class_grid.png"),
                  model.generate(model.latents(len(labels), model.config.seed), labels),
                  f"{name}: one row per class ({', '.join(class_names)})", ncol=per_class)
  viz.save_curves(os.path.join(workdir, "curves.png"), read_metrics(workdir),
                  ["train/d_loss", "train/g_loss", "eval/fid", "eval/precision", "eval/recall"], name)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the configured GAN in `workdir` (resuming if possible), scores it, returns the summary."""
  _, _, num_classes = describe(config)  # validate before touching data or the workdir
  train, _ = data_lib.load_splits(config.data)
  image_shape = tuple(train["image"].shape[1:])
  scorer = cached_scorer(config.data.name, config.eval.k)
  task = make_task(config, image_shape, scorer, workdir)
  result = loop.train(config, workdir, task, train)
  model = GAN(config, result.state, image_shape, num_classes)

  samples = model.sample(config.eval.num_samples, config.seed)
  labels = model.default_labels(len(samples))
  summary = {"dataset": config.data.name, "model": config.model.name, "steps": result.steps,
             "train_seconds": round(result.train_seconds, 2), **scorer(samples, labels)}
  if config.model.ema_decay:
    ema = scorer(model.sample(config.eval.num_samples, config.seed, ema=True), labels)
    summary.update({f"ema_{k}": v for k, v in ema.items() if k not in ("num_samples", "evaluator_test_accuracy")})
  np.save(os.path.join(workdir, "samples.npy"), to_uint8(samples))
  write_figures(workdir, model, samples, data_lib.spec(config.data.name).class_names)
  write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  return summary


def load(workdir: str) -> GAN:
  """The GAN saved in `workdir` (its latest checkpoint)."""
  config, state, image_shape = checkpoint.load_trained(workdir, init_state)
  return GAN(config, state, image_shape, describe(config)[2])


def write_samples(workdir: str, out: str, num: int, seed: int, ema: bool = False) -> str:
  """`num` uint8 samples of the GAN in `workdir` to the .npy file `out`, which must not exist."""
  if num < 1:
    raise UsageError(f"--num_samples must be positive, got {num}")
  if os.path.exists(out):
    raise UsageError(f"{out} exists; choose another --out (nothing is overwritten)")
  model = load(workdir)
  images = to_uint8(model.sample(num, seed, ema=ema))
  tmp = out + ".tmp.npy"
  np.save(tmp, images)
  os.replace(tmp, out)
  return out
