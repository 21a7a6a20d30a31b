"""Small building blocks shared by the models."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxunsup.errors import UsageError

_ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh, "elu": nn.elu, "gelu": nn.gelu,
                "leaky_relu": nn.leaky_relu, "sigmoid": nn.sigmoid, "softplus": nn.softplus}


def activation_fn(name: str):
  """Returns the activation function called `name`."""
  if name not in _ACTIVATIONS:
    raise UsageError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}")
  return _ACTIVATIONS[name]


INITS = ("lecun", "torch")


def layer_init(init: str, fan_in: int) -> dict:
  """The kernel_init and bias_init arguments of a Dense or Conv layer with `fan_in` inputs per
  output. `lecun` is Flax's default: weights of variance 1/fan_in, zero biases. `torch` is
  PyTorch's default for Linear and Conv2d: weights and biases U(-b, b) with b = 1/sqrt(fan_in),
  so a third of the weight variance, compounding through the layers, and biases that are not zero."""
  if init == "lecun":
    return {}
  bound = fan_in ** -0.5
  uniform = lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)
  return {"kernel_init": uniform, "bias_init": uniform}


# Conv stacks halve the image until its map is at most this wide: 28 and 32-pixel images reach 7
# and 8 after the two stages the configs list; larger inputs get more stages (`stage_widths`).
SMALLEST_MAP = 8


def stage_widths(widths, side: int) -> tuple:
  """The widths of a stack of halving stages for an input `side` pixels wide: `widths` as given,
  then, while the map is still wider than `SMALLEST_MAP`, one more stage of twice the last width.
  So a config written for 28x28 builds the same network there and a deeper one at 64x64 (three
  stages to 8x8) instead of flattening a 16x16 map into its first Dense layer."""
  widths = list(widths)
  for _ in widths:
    side = -(-side // 2)
  while side > SMALLEST_MAP:
    widths.append(widths[-1] * 2)
    side = -(-side // 2)
  return tuple(widths)


def depth_to_space(x_BxHxWxC: jnp.ndarray, block: int) -> jnp.ndarray:
  """Rearranges channel blocks into space: (B, H, W, C*r*r) -> (B, H*r, W*r, C)."""
  b, h, w, c = x_BxHxWxC.shape
  out_c = c // (block * block)
  x = x_BxHxWxC.reshape((b, h, w, block, block, out_c))
  x = x.transpose((0, 1, 3, 2, 4, 5))
  return x.reshape((b, h * block, w * block, out_c))


class SubPixelUpsample(nn.Module):
  """Doubles height and width with a conv to 4x channels then depth-to-space.

  Equivalent in expressiveness to a stride-2 transposed conv (Shi et al. 2016), which XLA's CPU
  backend differentiates slowly: on a 2-core AMD EPYC a stride-2 ConvTranspose (7x7x128 ->
  14x14x64, batch 128) took 288 ms for its weight gradient against 13 ms for its input gradient
  and 17 ms forward, and this upsampling made the DCGAN step 2.0x faster (docs/results.md, DCGAN
  step speed).
  """
  features: int
  kernel_size: int = 3
  init_scheme: str = "lecun"       # see layer_init

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    k = (self.kernel_size, self.kernel_size)
    fan_in = self.kernel_size ** 2 * x_BxHxWxC.shape[-1]
    y = nn.Conv(self.features * 4, k, padding="SAME", **layer_init(self.init_scheme, fan_in))(x_BxHxWxC)
    return depth_to_space(y, 2)


def extract_patches(x_BxHxWxC: jnp.ndarray, kernel_size: int, stride: int) -> jnp.ndarray:
  """'SAME'-padded k x k patches at the given stride: (B, H', W', k*k*C), ordered (row, col, channel)."""
  b, h, w, c = x_BxHxWxC.shape
  out_h, out_w = -(-h // stride), -(-w // stride)
  pad_h = max((out_h - 1) * stride + kernel_size - h, 0)
  pad_w = max((out_w - 1) * stride + kernel_size - w, 0)
  x = jnp.pad(x_BxHxWxC, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
  return jnp.concatenate([x[:, i:i + span_h:stride, j:j + span_w:stride, :]
                          for i in range(kernel_size) for j in range(kernel_size)], axis=-1)


class PatchConv(nn.Module):
  """nn.Conv with 'SAME' padding computed as patch extraction + one matmul.

  Same parameters (names, shapes, initialisers) and outputs as nn.Conv. It exists for the
  gradient penalty of WGAN-GP: its double backward through a strided nn.Conv reaches convolutions
  with input dilation that XLA's CPU backend runs several times slower; here every derivative is a
  matmul, a strided slice or a pad (measured in docs/results.md, DCGAN step speed).
  """
  features: int
  kernel_size: int
  stride: int = 1
  init_scheme: str = "lecun"       # see layer_init

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    k, c = self.kernel_size, x_BxHxWxC.shape[-1]
    inits = layer_init(self.init_scheme, k * k * c)
    kernel = self.param("kernel", inits.get("kernel_init", nn.initializers.lecun_normal()), (k, k, c, self.features))
    bias = self.param("bias", inits.get("bias_init", nn.initializers.zeros_init()), (self.features,))
    patches = extract_patches(x_BxHxWxC, k, self.stride)
    return patches @ kernel.reshape((k * k * c, self.features)) + bias
