"""Trained runs as objects: `load(workdir)` opens any training workdir as the model API its
objective provides (`Model`: encode, decode, reconstruct, sample; `GAN` adds labels, the EMA
generator and interpolation)."""

import dataclasses
import functools
import json
import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup.chunked import map_in_chunks
from jaxunsup.configs import runs
from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives import gan as gan_objectives
from jaxunsup.objectives import registry
from jaxunsup.train import checkpoint
from jaxunsup.train import workdir as workdir_lib


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


@dataclasses.dataclass
class Model:
  """A trained state of a registered objective, usable on any array of inputs."""
  config: ml_collections.ConfigDict
  state: Any
  spec: InputSpec
  objective: registry.Objective

  @functools.cached_property
  def parts(self) -> registry.Parts:
    """The objective's parts for this config (built once per process, see objectives/registry.py)."""
    return registry.parts(self.objective, self.config, self.spec)

  @property
  def name(self) -> str:
    return self.objective.name

  def _needs(self, part: str, what: str):
    fn = getattr(self.parts, part)
    if fn is None:
      raise UsageError(f"{self.objective.family} objective {self.name!r} has no {what}")
    return fn

  def _inputs(self, inputs: np.ndarray) -> np.ndarray:
    """Images as (N, H, W, C), uint8 as stored (the jitted encoder scales them) or floats in
    [0, 1], from (N, H, W, C), (N, H, W) or (N, H*W*C); token ids as they are."""
    x = np.asarray(inputs)
    if self.spec.key != "image":
      return x
    x = x if x.dtype == np.uint8 else x.astype(np.float32)
    try:
      return x.reshape((x.shape[0], *self.spec.shape))
    except ValueError:
      raise UsageError(f"images of shape {x.shape} do not fit the model's {tuple(self.spec.shape)}") from None

  def encode(self, inputs: np.ndarray) -> np.ndarray:
    """Features (N, D); for the VAE, the posterior mean. Images may be uint8 or in [0, 1]."""
    encode = self._needs("encode", "encoder")
    return map_in_chunks(lambda xb: encode(self.state, xb), self._inputs(inputs))

  def decode(self, z_NxD: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (for the VAE, the Bernoulli means) from latent codes."""
    decode = self._needs("decode", "decoder")
    return map_in_chunks(lambda zb: decode(self.state, zb), np.asarray(z_NxD, np.float32))

  def reconstruct(self, images: np.ndarray) -> np.ndarray:
    """D(E(x)) in [0, 1], shaped (N, H, W, C)."""
    self._needs("decode", "decoder")
    return self.decode(self.encode(images))

  def sample(self, num: int, seed: int = 0) -> np.ndarray:
    """`num` samples in [0, 1] drawn with `seed`."""
    sample = self._needs("sample", "prior to sample from")
    return sample(self.state, jax.random.key(seed), num)


@functools.partial(jax.jit, static_argnums=0)
def _generate(apply_fn, variables, z_BxD, labels_B):
  return (apply_fn(variables, z_BxD, labels_B, train=False) + 1.0) / 2.0


@dataclasses.dataclass
class GAN(Model):
  """A trained generator (and its EMA): samples, class grids, interpolations."""

  @property
  def num_classes(self) -> int:
    """0 when unconditional."""
    return self.parts.modules["generator"].num_classes

  @property
  def labels_are_classes(self) -> bool:
    """True for a class-conditional generator; False for InfoGAN's, whose labels are codes it
    gave meaning to itself."""
    return self.parts.modules["discriminator"].conditioning != "code"

  @property
  def continuous_codes(self) -> int:
    """InfoGAN's continuous codes beside its category; 0 for every other GAN."""
    return 0 if self.labels_are_classes else self.config.model.get("continuous_codes", 0)

  def with_codes(self, labels_N: np.ndarray, continuous_NxM: Optional[np.ndarray] = None) -> np.ndarray:
    """Labels as the generator takes them: classes (or categories) as they are, or with continuous
    codes (N, 1 + M) floats, the category then the given codes (zeros, their middle, if none)."""
    labels_N = np.asarray(labels_N)
    if not self.continuous_codes or labels_N.ndim == 2:
      return labels_N
    if continuous_NxM is None:
      continuous_NxM = np.zeros((len(labels_N), self.continuous_codes))
    return np.concatenate([labels_N[:, None], continuous_NxM], 1).astype(np.float32)

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
    if self.num_classes:
      labels_N = self.with_codes(labels_N)
      dtype = jnp.float32 if labels_N.ndim == 2 else jnp.int32
    out = []
    for i in range(0, len(z), chunk):
      y = jnp.asarray(labels_N[i:i + chunk], dtype) if self.num_classes else None
      out.append(np.asarray(_generate(self.state.gen.apply_fn, self.variables(ema), jnp.asarray(z[i:i + chunk]), y)))
    return np.concatenate(out)

  def latents(self, num: int, seed: int = 0, truncation: Optional[float] = None) -> np.ndarray:
    """z ~ N(0, I) drawn with `seed`. With `truncation` t, each coordinate is drawn from the normal
    truncated to [-t, t] (a draw outside is redrawn): BigGAN's truncation trick (Brock et al. 2019),
    which trades variety for fidelity as t falls."""
    key, shape = jax.random.key(seed), (num, self.config.model.latent_dim)
    if truncation is None:
      return np.asarray(jax.random.normal(key, shape))
    return np.asarray(jax.random.truncated_normal(key, -truncation, truncation, shape))

  def default_labels(self, num: int, seed: int = 0) -> Optional[np.ndarray]:
    """Classes (or codes) in turn (0, 1, ..., 0, 1, ...) for a conditional GAN, so each is equally
    present; InfoGAN's continuous codes beside them are drawn from U(-1, 1) with `seed`."""
    if not self.num_classes:
      return None
    labels = np.arange(num) % self.num_classes
    if not self.continuous_codes:
      return labels
    key = jax.random.fold_in(jax.random.key(seed), 1)  # not the latents' key
    return np.asarray(gan_objectives.with_continuous_codes(labels, key, self.continuous_codes))

  def sample(self, num: int, seed: int = 0, labels: Optional[np.ndarray] = None, ema: bool = False,
             truncation: Optional[float] = None) -> np.ndarray:
    """`num` samples in [0, 1] from the latents of `seed` (truncated at `truncation` if given)."""
    labels = self.default_labels(num, seed) if labels is None else np.asarray(labels)
    return self.generate(self.latents(num, seed, truncation), labels, ema)

  def code_traversal(self, index: int, values: np.ndarray, seed: int = 0, ema: bool = False) -> np.ndarray:
    """InfoGAN's continuous code `index` set to each of `values` along a row, one row per category,
    the other continuous codes 0 and one z per row: (categories * len(values), H, W, C)."""
    if not 0 <= index < self.continuous_codes:
      raise UsageError(f"continuous code {index} does not exist; this generator has {self.continuous_codes}")
    k, n = self.num_classes, len(values)
    codes = np.zeros((k * n, self.continuous_codes), np.float32)
    codes[:, index] = np.tile(np.asarray(values, np.float32), k)
    z = np.repeat(self.latents(k, seed), n, axis=0)
    return self.generate(z, self.with_codes(np.repeat(np.arange(k), n), codes), ema)

  def interpolate(self, num_pairs: int = 5, steps: int = 10, seed: int = 0, ema: bool = False) -> np.ndarray:
    """Images along straight lines in z between random pairs: (num_pairs * steps, H, W, C)."""
    ends = self.latents(2 * num_pairs, seed).reshape((num_pairs, 2, -1))
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    z = ((1 - t) * ends[:, :1] + t * ends[:, 1:]).reshape((num_pairs * steps, -1))
    labels = np.repeat(np.arange(num_pairs) % self.num_classes, steps) if self.num_classes else None
    return self.generate(z, labels, ema)


API = {"gan": GAN}  # the model API of each family; Model for the others


def objective_of(config: ml_collections.ConfigDict) -> registry.Objective:
  """The registered objective a run's config trains.

  A pretraining run names it in `objective` (a text one also records its tokenizer); a GAN run's
  train block has the critic's `n_critic`; an autoencoder run's `model.name` is its objective.
  """
  if "objective" in config:
    return registry.get("text_pretrain" if "tokenizer" in config else "pretrain", config.objective)
  if "n_critic" in config.get("train", {}):
    return registry.get("gan", config.model.name)
  return registry.get("autoencoder", config.model.get("name"))


def input_spec(config: ml_collections.ConfigDict) -> InputSpec:
  """The input spec of a run from its config (text runs record their tokenizer)."""
  if "tokenizer" in config:
    return data_lib.text_input_spec(config.data.name, config.tokenizer.max_len, config.tokenizer.vocab_size)
  return data_lib.input_spec(config.data.name)


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """A training workdir's config.json; UsageError if there is none."""
  path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
  if not os.path.exists(path):
    raise UsageError(f"{workdir} has no {workdir_lib.CONFIG_FILE}; is it a training workdir?")
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read {path} ({e})") from None


def restore(workdir: str, init_state, what: str = "checkpoint to load; train first") -> Any:
  """The latest checkpoint of `workdir`, restored into the structure of `init_state(rng)`."""
  template = init_state(jax.random.key(0))
  has_dir = os.path.isdir(os.path.join(workdir, checkpoint.CHECKPOINT_DIR))  # the manager would create it
  restored = (checkpoint.restore_latest(checkpoint.manager(workdir), checkpoint.pack(template, jax.random.key(0), 0, 0.0))
              if has_dir else None)
  if restored is None:
    raise UsageError(f"{workdir} has no {what}")
  return restored["state"]


def with_defaults(config: ml_collections.ConfigDict, objective: registry.Objective) -> ml_collections.ConfigDict:
  """`config` with the fields its family's config has gained since the run was made, at their
  default values (a workdir trained before `model.beta` existed still opens). Image families only:
  a text run's config depends on its tokenizer."""
  if objective.family not in runs.IMAGE_FAMILIES:
    return config
  merged = runs.run_config(objective.family, objective.name).to_dict()

  def overlay(base: dict, saved: dict) -> dict:
    for k, v in saved.items():
      base[k] = overlay(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base

  return ml_collections.ConfigDict(overlay(merged, config.to_dict()))


def load(workdir: str) -> Model:
  """The run saved in `workdir` (its latest checkpoint) as its objective's model API."""
  config = read_config(workdir)
  objective = objective_of(config)
  config = with_defaults(config, objective)
  spec = input_spec(config)
  parts = registry.parts(objective, config, spec)
  return API.get(objective.family, Model)(config, restore(workdir, parts.init), spec, objective)
