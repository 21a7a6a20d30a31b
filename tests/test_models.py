import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxunsup import models
from jaxunsup.errors import UsageError
from jaxunsup.models.layers import PatchConv, depth_to_space
from jaxunsup.train.state import init_variables


def _model_cfg(name, **kw):
  cfg = ml_collections.ConfigDict(dict(name=name, latent_dim=6, hidden=(32, 16), features=(4, 8),
                                       activation="relu", backbone="mlp"))
  cfg.update(kw)
  return cfg


@pytest.mark.parametrize("name,backbone", [("mlp", "mlp"), ("conv", "mlp"), ("denoising", "conv"),
                                           ("vae", "mlp"), ("vae", "conv")])
def test_autoencoder_shapes(name, backbone):
  outputs = 2 if name == "vae" else 1  # a VAE's encoder gives mean and log-variance
  enc, dec = models.build_autoencoder(_model_cfg(name, backbone=backbone), (28, 28, 1), outputs)
  x_BxHxWxC = jnp.ones((3, 28, 28, 1))
  enc_params = enc.init(jax.random.key(0), x_BxHxWxC)
  z = enc.apply(enc_params, x_BxHxWxC)
  assert z.shape == (3, 6 * outputs)
  z_BxD = z[:, :6]
  dec_params = dec.init(jax.random.key(1), z_BxD)
  logits = dec.apply(dec_params, z_BxD)
  assert logits.shape == (3, 28, 28, 1)
  assert bool(jnp.all(jnp.isfinite(logits)))


def test_depth_to_space_places_channels_in_blocks():
  x = jnp.arange(2 * 4, dtype=jnp.float32).reshape((1, 1, 2, 4))  # two pixels, 4 channels each
  y = depth_to_space(x, 2)
  assert y.shape == (1, 2, 4, 1)
  # channel k of pixel (0, j) lands at (k // 2, 2 j + k % 2)
  np.testing.assert_array_equal(np.asarray(y[0, :, :, 0]), [[0, 1, 4, 5], [2, 3, 6, 7]])


def test_unknown_backbone_and_activation_are_usage_errors():
  # unknown objective names are the registry's to refuse (tests/test_registry.py)
  with pytest.raises(UsageError, match="unknown model.backbone"):
    models.build_autoencoder(_model_cfg("vae", backbone="resnet"), (28, 28, 1))
  enc, _ = models.build_autoencoder(_model_cfg("mlp", activation="swishy"), (28, 28, 1))
  with pytest.raises(UsageError, match="unknown activation"):
    enc.init(jax.random.key(0), jnp.ones((1, 28, 28, 1)))


@pytest.mark.parametrize("shape,kernel,stride", [((3, 28, 28, 1), 4, 2), ((2, 7, 9, 3), 3, 1), ((2, 13, 13, 2), 5, 2)])
def test_patch_conv_is_nn_conv(shape, kernel, stride):
  x = jax.random.normal(jax.random.key(1), shape)
  ref = nn.Conv(6, (kernel, kernel), strides=(stride, stride), padding="SAME")
  ours = PatchConv(6, kernel, stride)
  params = ref.init(jax.random.key(0), x)
  # same initialisers and shapes, so either module can load the other's parameters
  jax.tree.map(np.testing.assert_array_equal, params, ours.init(jax.random.key(0), x))
  np.testing.assert_allclose(ours.apply(params, x), ref.apply(params, x), atol=1e-5)
  # and the same second derivatives, which is what the gradient penalty takes
  def penalty(module, p):
    g = jax.grad(lambda x: jnp.sum(jnp.sin(module.apply(p, x))))(x)
    return jnp.sum(jnp.square(g))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
               jax.jit(jax.grad(lambda p: penalty(ref, p)))(params),
               jax.jit(jax.grad(lambda p: penalty(ours, p)))(params))  # jit: one compile, not one per op


def test_stage_widths_keep_small_images_and_deepen_large_ones():
  from jaxunsup.models.layers import stage_widths
  assert stage_widths((32, 64), 28) == (32, 64)   # 28 -> 14 -> 7
  assert stage_widths((32, 64), 32) == (32, 64)   # 32 -> 16 -> 8
  assert stage_widths((32, 64), 64) == (32, 64, 128)
  assert stage_widths((32, 64), 128) == (32, 64, 128, 256)
  assert stage_widths((8, 16, 32), 28) == (8, 16, 32)  # a longer list is kept as given


@pytest.mark.parametrize("side", [28, 64])
def test_conv_models_take_the_input_size(side):
  """The conv autoencoder, the DCGAN pair and the evaluation classifier at 28 and 64 pixels: the
  output has the input's shape and every map ends at most 8 wide before its Dense layer."""
  from jaxunsup.eval.classifier import EvalNet
  shape = (side, side, 3)
  x = jnp.ones((2, *shape))
  enc, dec = models.build_autoencoder(_model_cfg("conv"), shape)
  enc_vars = init_variables(enc, jax.random.key(0), x)
  z = jax.jit(enc.apply)(enc_vars, x)  # compiled: op by op, each op of each size compiles alone
  assert jax.jit(dec.apply)(init_variables(dec, jax.random.key(1), z), z).shape == (2, *shape)
  flat = enc_vars["params"]["Dense_0"]["kernel"].shape[0]
  assert flat == (7 * 7 * 8 if side == 28 else 8 * 8 * 16)
  cfg = ml_collections.ConfigDict(dict(hidden=(8,), gen_features=(16, 8), disc_features=(8, 16), gen_kernel=3,
                                       gen_batch_norm=True, gen_upsampling="subpixel", disc_kernel=4,
                                       disc_conv_impl="xla", spectral_norm=False, conditioning="projection"))
  gen, disc = models.build_gan("dcgan", cfg, shape, 0)
  noise = jnp.ones((2, 5))
  gen_vars = init_variables(gen, jax.random.key(2), noise)
  fake = jax.jit(lambda v, n: gen.apply(v, n, mutable=["batch_stats"])[0])(gen_vars, noise)
  assert fake.shape == (2, *shape)
  assert jax.jit(disc.apply)(init_variables(disc, jax.random.key(3), fake), fake).shape == (2,)
  logits, features = jax.jit(EvalNet(4).apply)(init_variables(EvalNet(4), jax.random.key(4), x), x)
  assert logits.shape == (2, 4) and features.shape == (2, 128)


def test_sizes_the_conv_stacks_cannot_take_are_usage_errors():
  enc, dec = models.build_autoencoder(_model_cfg("conv"), (60, 60, 1))  # three doublings, 60 % 8 != 0
  with pytest.raises(UsageError, match="divisible by 8, not 60x60"):
    dec.init(jax.random.key(0), jnp.ones((1, 6)))
  cfg = ml_collections.ConfigDict(dict(gen_features=(16, 8), conditioning="projection"))
  with pytest.raises(UsageError, match="divisible by 8, not 60x60"):
    models.build_gan("dcgan", cfg, (60, 60, 1), 0)


def _layers(params) -> list:
  """(kernel, bias) of every Dense and conv layer in a parameter tree."""
  if "kernel" in params:
    return [(params["kernel"], params["bias"])]
  return [layer for v in params.values() if isinstance(v, dict) for layer in _layers(v)]


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_torch_init_is_pytorchs_uniform_on_every_gan_layer(arch):
  """`torch`: every Dense and conv weight and bias in U(+-1/sqrt(fan_in)), spread over the range
  (a uniform's std is bound/sqrt(3)); `lecun`: zero biases; an unknown scheme is refused."""
  cfg = ml_collections.ConfigDict(dict(hidden=(32, 16), gen_features=(16, 8), disc_features=(8, 16), gen_kernel=3,
                                       gen_batch_norm=True, gen_upsampling="subpixel", disc_kernel=4,
                                       disc_conv_impl="patches", spectral_norm=False, conditioning="projection"))
  def layers(init):
    cfg.init = init
    gen, disc = models.build_gan(arch, cfg, (28, 28, 1), 0)
    return (_layers(init_variables(gen, jax.random.key(0), jnp.ones((2, 5)))["params"])
            + _layers(init_variables(disc, jax.random.key(1), jnp.ones((2, 28, 28, 1)))["params"]))
  torch = layers("torch")
  assert len(torch) == 6  # three in each network
  for kernel, bias in torch:
    bound = np.prod(kernel.shape[:-1]) ** -0.5  # fan_in: every axis but the outputs
    assert float(jnp.max(jnp.abs(kernel))) <= bound and float(jnp.max(jnp.abs(bias))) <= bound
    if kernel.size >= 256:
      np.testing.assert_allclose(float(jnp.std(kernel)), bound / np.sqrt(3), rtol=0.1)
  assert all(float(jnp.max(jnp.abs(bias))) == 0 for _, bias in layers("lecun"))
  with pytest.raises(UsageError, match="unknown model.init 'xavier'; choose one of lecun, torch"):
    layers("xavier")
