import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import augment
from jaxunsup.configs.pretrain_finetune import augment_fields
from jaxunsup.errors import UsageError

ALL_ON = {"crop_min_area": 0.3, "crop_log_ratio": 0.3, "max_shift": 3, "flip": True,
          "brightness": 0.2, "contrast": 0.3, "noise_std": 0.1, "cutout": 8}


def _jitted(**settings):
  return jax.jit(functools.partial(augment.augment, **settings))


def _images(n=6):
  return jax.random.uniform(jax.random.key(0), (n, 28, 28, 1))


def test_views_keep_shape_and_range_and_differ_per_key_and_per_example():
  x = _images()
  views = _jitted(**ALL_ON)
  a, b = views(x, jax.random.key(1)), views(x, jax.random.key(2))
  assert a.shape == x.shape and a.dtype == x.dtype
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, views(x, jax.random.key(1)))
  # the same image twice in a batch gets two different views
  twins = views(jnp.stack([x[0], x[0]]), jax.random.key(1))
  assert not np.allclose(twins[0], twins[1])


def test_everything_off_is_the_identity():
  x = _images()
  np.testing.assert_array_equal(augment.augment(x, jax.random.key(1)), x)


def test_each_transform_by_itself():
  x = jnp.zeros((1, 28, 28, 1)).at[0, 10:18, 10:18].set(1.0)
  key = jax.random.key(3)
  shifted = _jitted(max_shift=3)(x, key)
  assert float(shifted.sum()) == 64.0  # a translation of a square well inside the image
  ramps = jnp.tile(jnp.arange(28.0)[None, None, :, None] / 27, (16, 28, 1, 1))
  flipped = _jitted(flip=True)(ramps, key)
  # rows run 0..1 left to right; a flip reverses them: both orders occur among 16 draws
  firsts = set(np.round(np.asarray(flipped[:, 0, 0, 0]), 3))
  assert firsts == {0.0, 1.0}
  cut = _jitted(cutout=5)(jnp.ones((8, 28, 28, 1)), key)
  zeros = np.asarray((cut == 0).sum(axis=(1, 2, 3)))
  assert zeros.max() == 25 and zeros.min() > 0  # a 5x5 square, clipped when near the border
  grey = jnp.full((16, 28, 28, 1), 0.5)
  shifted = np.asarray(_jitted(brightness=0.2)(grey, key))
  assert np.ptp(shifted, axis=(1, 2, 3)).max() < 1e-6  # one shift per image
  assert 0.3 <= shifted.min() < 0.45 and 0.55 < shifted.max() <= 0.7
  mid = 0.4 + 0.2 * x  # a 0.6 square on 0.4: no value leaves [0, 1] at contrast 1.5
  contrasted = np.asarray(_jitted(contrast=0.5)(jnp.tile(mid, (16, 1, 1, 1)), key))
  mean = float(mid.mean())
  gap = contrasted[:, 12, 12, 0] - contrasted[:, 0, 0, 0]  # inside minus outside the square
  assert 0.1 <= gap.min() < 0.16 and 0.24 < gap.max() <= 0.3  # 0.2 x a factor in [0.5, 1.5]
  np.testing.assert_allclose(contrasted.mean(axis=(1, 2, 3)), mean, atol=1e-5)  # about the mean
  full = _jitted(crop_min_area=1.0 - 1e-6)(x, key)
  np.testing.assert_allclose(full, x, atol=1e-4)  # a crop of the whole image resizes to itself


def test_settings_resolve_flip_per_dataset_and_refuse_nonsense():
  assert augment.settings(augment_fields(), "mnist")["flip"] is False
  assert augment.settings(augment_fields(), "fashion_mnist")["flip"] is True
  assert augment.settings(augment_fields(flip="yes"), "mnist")["flip"] is True
  for bad in ({"flip": "sometimes"}, {"crop_min_area": 0.0}, {"max_shift": -1}, {"noise_std": -0.1},
              {"crop_max_ratio": 0.5}, {"brightness": -0.1}, {"contrast": 1.0}):
    with pytest.raises(UsageError):
      augment.settings(augment_fields(**bad), "mnist")
