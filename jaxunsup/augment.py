"""Image augmentations in JAX, run inside jitted steps: one key per example, shape and [0, 1] kept.

Used by SimCLR (two views per image) and, optionally, by fine-tuning. Every transform draws its
randomness from `fold_in(rng, example)`, so a batch's augmentations depend only on the step key.
"""

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup import data as data_lib
from jaxunsup.errors import UsageError

FLIPS = ("auto", "yes", "no")


def _resized_crop(x_HxWxC: jnp.ndarray, rng: jax.Array, min_area: float, log_ratio: float) -> jnp.ndarray:
  """A random box of area fraction in [min_area, 1] and aspect ratio in exp(+-log_ratio), resized
  back to the full image (bilinear), as in SimCLR's random resized crop (Chen et al. 2020)."""
  h, w = x_HxWxC.shape[:2]
  k_area, k_ratio, k_y, k_x = jax.random.split(rng, 4)
  area = jax.random.uniform(k_area, (), minval=min_area, maxval=1.0)
  ratio = jnp.exp(jax.random.uniform(k_ratio, (), minval=-log_ratio, maxval=log_ratio))
  box_h = jnp.clip(jnp.sqrt(area / ratio), 0.0, 1.0) * h
  box_w = jnp.clip(jnp.sqrt(area * ratio), 0.0, 1.0) * w
  top = jax.random.uniform(k_y, ()) * (h - box_h)
  left = jax.random.uniform(k_x, ()) * (w - box_w)
  scale = jnp.stack([h / box_h, w / box_w])
  # scale_and_translate maps input coordinate u to output coordinate u * scale + translation
  translation = -jnp.stack([top, left]) * scale
  return jax.image.scale_and_translate(x_HxWxC, x_HxWxC.shape, (0, 1), scale, translation,
                                       method="linear", antialias=False)


def _shift(x_HxWxC: jnp.ndarray, rng: jax.Array, max_shift: int) -> jnp.ndarray:
  """Translates by up to `max_shift` pixels in each direction, filling with zeros."""
  h, w, _ = x_HxWxC.shape
  dy, dx = jax.random.randint(rng, (2,), 0, 2 * max_shift + 1)
  padded = jnp.pad(x_HxWxC, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)))
  return jax.lax.dynamic_slice(padded, (dy, dx, 0), x_HxWxC.shape)


def _cutout(x_HxWxC: jnp.ndarray, rng: jax.Array, size: int) -> jnp.ndarray:
  """Zeros a size x size square whose centre is uniform over the image (DeVries & Taylor 2017)."""
  h, w, _ = x_HxWxC.shape
  cy, cx = jax.random.randint(rng, (2,), 0, jnp.array([h, w]))
  rows, cols = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  inside = (jnp.abs(rows - cy) <= (size - 1) // 2) & (jnp.abs(cols - cx) <= (size - 1) // 2)
  return jnp.where(inside[..., None], 0.0, x_HxWxC)


def _intensity(x_HxWxC: jnp.ndarray, rng: jax.Array, brightness: float, contrast: float) -> jnp.ndarray:
  """Grey-level jitter, SimCLR's colour jitter for one channel: contrast scaled by a factor in
  [1 - contrast, 1 + contrast] about the image's mean, then brightness shifted by up to
  +-brightness."""
  k_b, k_c = jax.random.split(rng)
  factor = jax.random.uniform(k_c, (), minval=1.0 - contrast, maxval=1.0 + contrast)
  shift = jax.random.uniform(k_b, (), minval=-brightness, maxval=brightness)
  mean = jnp.mean(x_HxWxC)
  return (x_HxWxC - mean) * factor + mean + shift


def augment_one(x_HxWxC: jnp.ndarray, rng: jax.Array, *, crop_min_area: float = 1.0,
                crop_log_ratio: float = 0.0, max_shift: int = 0, flip: bool = False,
                brightness: float = 0.0, contrast: float = 0.0,
                noise_std: float = 0.0, cutout: int = 0) -> jnp.ndarray:
  """One image's random view; a transform whose setting is off is skipped at trace time."""
  k_crop, k_shift, k_flip, k_noise, k_cut = jax.random.split(rng, 5)
  k_intensity = jax.random.fold_in(rng, 5)  # a new stream, so the other draws stay as they were
  x = x_HxWxC
  if crop_min_area < 1.0:
    x = _resized_crop(x, k_crop, crop_min_area, crop_log_ratio)
  if max_shift > 0:
    x = _shift(x, k_shift, max_shift)
  if flip:
    x = jnp.where(jax.random.bernoulli(k_flip), x[:, ::-1], x)
  if brightness > 0 or contrast > 0:
    x = _intensity(x, k_intensity, brightness, contrast)
  if noise_std > 0:
    x = x + noise_std * jax.random.normal(k_noise, x.shape)
  if cutout > 0:
    x = _cutout(x, k_cut, cutout)
  return jnp.clip(x, 0.0, 1.0)


def augment(x_BxHxWxC: jnp.ndarray, rng: jax.Array, **settings) -> jnp.ndarray:
  """A random view of every image of a batch; see `augment_one` for the settings."""
  keys = jax.vmap(functools.partial(jax.random.fold_in, rng))(jnp.arange(x_BxHxWxC.shape[0]))
  return jax.vmap(functools.partial(augment_one, **settings))(x_BxHxWxC, keys)


def settings(aug_cfg: ml_collections.ConfigDict, dataset: str, block: str = "augment") -> dict:
  """The keyword settings of `augment` from a config's augment block (named `block` in errors);
  validates them.

  flip `auto` flips only datasets whose classes are mirror-symmetric (Fashion-MNIST, not digits).
  """
  if aug_cfg.flip not in FLIPS:
    raise UsageError(f"unknown {block}.flip {aug_cfg.flip!r}; choose one of {', '.join(FLIPS)}")
  if not 0.0 < aug_cfg.crop_min_area <= 1.0:
    raise UsageError(f"{block}.crop_min_area must be in (0, 1], got {aug_cfg.crop_min_area}")
  for name in ("max_shift", "cutout"):
    if not isinstance(aug_cfg[name], int) or aug_cfg[name] < 0:
      raise UsageError(f"{block}.{name} must be a non-negative integer, got {aug_cfg[name]!r}")
  if aug_cfg.crop_max_ratio < 1.0:
    raise UsageError(f"{block}.crop_max_ratio must be >= 1, got {aug_cfg.crop_max_ratio}")
  for name in ("noise_std", "brightness"):
    if aug_cfg[name] < 0:
      raise UsageError(f"{block}.{name} must be >= 0, got {aug_cfg[name]}")
  if not 0.0 <= aug_cfg.contrast < 1.0:
    raise UsageError(f"{block}.contrast must be in [0, 1), got {aug_cfg.contrast}")
  flip = data_lib.spec(dataset).mirror_symmetric if aug_cfg.flip == "auto" else aug_cfg.flip == "yes"
  return {"crop_min_area": float(aug_cfg.crop_min_area),
          "crop_log_ratio": math.log(aug_cfg.crop_max_ratio), "max_shift": aug_cfg.max_shift,
          "flip": flip, "brightness": float(aug_cfg.brightness), "contrast": float(aug_cfg.contrast),
          "noise_std": float(aug_cfg.noise_std), "cutout": aug_cfg.cutout}
