"""DiffAugment (Zhao et al. 2020): differentiable augmentations of the discriminator's inputs.

The GAN train steps apply one policy to real and fake images alike, inside the step, so the
generator's gradient flows through the augmentation. Each image draws its own parameters from
the key; one key gives one augmentation of a batch, whatever the batch holds.

Images are in the GAN's [-1, 1] range, as in the paper's code: brightness adds U(-0.5, 0.5),
saturation scales the distance to the pixel's channel mean by U(0, 2), contrast scales the
distance to the image mean by U(0.5, 1.5), translation shifts by up to 1/8 of the side with
zero padding, and cutout zeroes a square of half the side at a random centre.
"""

import jax
import jax.numpy as jnp

from jaxunsup.errors import UsageError


def brightness(x_BxHxWxC: jnp.ndarray, rng: jax.Array) -> jnp.ndarray:
  shift = jax.random.uniform(rng, (x_BxHxWxC.shape[0], 1, 1, 1), minval=-0.5, maxval=0.5)
  return x_BxHxWxC + shift


def saturation(x_BxHxWxC: jnp.ndarray, rng: jax.Array) -> jnp.ndarray:
  """The identity on one-channel images, whose channel mean is the pixel itself."""
  mean = jnp.mean(x_BxHxWxC, axis=-1, keepdims=True)
  scale = jax.random.uniform(rng, (x_BxHxWxC.shape[0], 1, 1, 1), minval=0.0, maxval=2.0)
  return (x_BxHxWxC - mean) * scale + mean


def contrast(x_BxHxWxC: jnp.ndarray, rng: jax.Array) -> jnp.ndarray:
  mean = jnp.mean(x_BxHxWxC, axis=(1, 2, 3), keepdims=True)
  scale = jax.random.uniform(rng, (x_BxHxWxC.shape[0], 1, 1, 1), minval=0.5, maxval=1.5)
  return (x_BxHxWxC - mean) * scale + mean


def translation(x_BxHxWxC: jnp.ndarray, rng: jax.Array, ratio: float = 0.125) -> jnp.ndarray:
  """Each image shifted by whole pixels in [-s, s] per axis, s = round(ratio * side); zeros fill."""
  b, h, w, _ = x_BxHxWxC.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(rng)
  dy = jax.random.randint(ky, (b,), -sh, sh + 1)
  dx = jax.random.randint(kx, (b,), -sw, sw + 1)
  padded = jnp.pad(x_BxHxWxC, ((0, 0), (sh, sh), (sw, sw), (0, 0)))
  # output pixel (i, j) reads input (i - dy, j - dx), which sits at (i - dy + sh, j - dx + sw) once padded
  shift = lambda img, y, x: jax.lax.dynamic_slice(img, (sh - y, sw - x, 0), (h, w, img.shape[-1]))
  return jax.vmap(shift)(padded, dy, dx)


def cutout(x_BxHxWxC: jnp.ndarray, rng: jax.Array, ratio: float = 0.5) -> jnp.ndarray:
  """A square of side round(ratio * side) around a uniform centre set to zero (clipped at the edges)."""
  b, h, w, _ = x_BxHxWxC.shape
  size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
  ky, kx = jax.random.split(rng)
  cy = jax.random.randint(ky, (b, 1, 1), 0, h)
  cx = jax.random.randint(kx, (b, 1, 1), 0, w)
  top, left = cy - size_h // 2, cx - size_w // 2
  rows, cols = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
  inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
  return x_BxHxWxC * (~inside)[..., None].astype(x_BxHxWxC.dtype)


# The paper's policy names; "color" is its three colour transforms in order.
POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def parse(policy: str) -> tuple:
  """The transforms of a comma-separated policy ("" for none); UsageError on an unknown name."""
  names = [n.strip() for n in policy.split(",") if n.strip()]
  unknown = [n for n in names if n not in POLICIES]
  if unknown:
    raise UsageError(f"unknown DiffAugment policy {unknown[0]!r}; choose from {', '.join(POLICIES)}")
  return tuple(f for n in names for f in POLICIES[n])


def augment(x_BxHxWxC: jnp.ndarray, rng: jax.Array, transforms: tuple) -> jnp.ndarray:
  """`transforms` (from `parse`) applied in order, each with its own key."""
  for i, transform in enumerate(transforms):
    x_BxHxWxC = transform(x_BxHxWxC, jax.random.fold_in(rng, i))
  return x_BxHxWxC
