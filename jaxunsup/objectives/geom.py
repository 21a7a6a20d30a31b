"""Geometric-transformation one-class detection (Golan & El-Yaniv 2018, "GEOM").

A classifier learns which of 72 transformations was applied to an image of the normal class:
a horizontal flip or none, a translation by (tx, ty) in {0, -s, +s}^2 (reflecting the image at
its border), then a rotation by 0, 90, 180 or 270 degrees. Every (image, transformation) pair is
one training example; an epoch visits each once. A test image is transformed all 72 ways and
scored by how well the classifier recognises each transformation:

  Dirichlet score  sum_i (alpha_i - 1) . log p(. | T_i(x)), alpha_i the maximum-likelihood
                   Dirichlet of the normal train images' softmax outputs under T_i (the paper's);
  simple score     mean_i log p(i | T_i(x)), the paper's simplified score.

Both are normality scores; the anomaly scores are their negatives. Every transformation is one
gather of pixels, so a batch of (image, transformation) pairs is transformed by one indexed read
(`index_table`). A trial is a pure function of (seed, normal images): resumed from its
checkpoint, it ends with the scores of an uninterrupted one.
"""

import dataclasses
import json
import time
from typing import Any, Callable, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxunsup.chunked import map_in_chunks
from jaxunsup.errors import UsageError
from jaxunsup.models.conv import ConvEncoder
from jaxunsup.train import checkpoint, compiled, loop


def transformations(shift: int) -> list:
  """The 72 (flip, tx, ty, quarter turns) in the paper's order."""
  return [(flip, tx, ty, k) for flip in (False, True) for tx in (0, -shift, shift)
          for ty in (0, -shift, shift) for k in range(4)]


def _apply(image_HxW: np.ndarray, flip: bool, tx: int, ty: int, k: int) -> np.ndarray:
  """One transformation of a 2-d array, in numpy: flip, translate with a mirrored border, rotate."""
  x = image_HxW[:, ::-1] if flip else image_HxW
  h, w = x.shape
  pad = max(abs(tx), abs(ty))
  if pad:
    padded = np.pad(x, pad, mode="symmetric")
    x = padded[pad - ty:pad - ty + h, pad - tx:pad - tx + w]
  return np.rot90(x, k)


def index_table(height: int, width: int, shift: int) -> np.ndarray:
  """(72, H * W): for each transformation, the source pixel of every output pixel."""
  source = np.arange(height * width).reshape(height, width)
  return np.stack([_apply(source, *t).reshape(-1) for t in transformations(shift)])


def transform(x_BxHxWxC: jnp.ndarray, t_B: jnp.ndarray, table_TxP: jnp.ndarray) -> jnp.ndarray:
  """Image b transformed by transformation t_B[b]."""
  b, h, w, c = x_BxHxWxC.shape
  flat = x_BxHxWxC.reshape((b, h * w, c))
  return jnp.take_along_axis(flat, table_TxP[t_B][..., None], axis=1).reshape((b, h, w, c))


def _inverse_digamma(y: jnp.ndarray, iterations: int = 5) -> jnp.ndarray:
  # Minka's initialisation and Newton steps (Minka 2000, "Estimating a Dirichlet distribution").
  x = jnp.where(y >= -2.22, jnp.exp(y) + 0.5, -1.0 / (y + 0.5772156649))
  for _ in range(iterations):
    x = x - (jax.scipy.special.digamma(x) - y) / jax.scipy.special.polygamma(1, x)
  return x


def dirichlet_mle(log_p_NxK: jnp.ndarray, iterations: int = 500) -> jnp.ndarray:
  """Maximum-likelihood Dirichlet parameters of probability vectors given by their logs: the
  fixed point alpha = psi^-1(psi(sum alpha) + mean log p), from the method of moments' start."""
  p = jnp.exp(log_p_NxK)
  mean, second = p.mean(0), jnp.square(p).mean(0)
  precision = (mean[0] - second[0]) / jnp.maximum(second[0] - mean[0] ** 2, 1e-12)
  alpha = jnp.maximum(precision, 1e-3) * mean
  mean_log_p = log_p_NxK.mean(0)

  def step(_, a):
    return _inverse_digamma(jax.scipy.special.digamma(jnp.sum(a)) + mean_log_p)

  return jax.lax.fori_loop(0, iterations, step, alpha)


def scores(log_p_NxTxK: jnp.ndarray, alpha_TxK: jnp.ndarray) -> tuple:
  """(Dirichlet normality score, simple normality score) of each image from its log-softmax
  outputs under every transformation (module docstring)."""
  dirichlet = jnp.sum((alpha_TxK - 1.0) * log_p_NxTxK, axis=(1, 2))
  t = log_p_NxTxK.shape[1]
  simple = jnp.mean(log_p_NxTxK[:, jnp.arange(t), jnp.arange(t)], axis=1)
  return dirichlet, simple


class Classifier(flax.linen.Module):
  """The conv encoder and a linear head over the transformations."""
  features: tuple
  rep_dim: int
  stage_convs: int
  num_transforms: int

  @flax.linen.compact
  def __call__(self, x):
    h = flax.linen.relu(ConvEncoder(self.features, self.rep_dim, "relu", self.stage_convs)(x))
    return flax.linen.Dense(self.num_transforms)(h)


@flax.struct.dataclass
class GeomState:
  params: Any
  opt_state: Any
  epoch: jnp.ndarray
  loss: jnp.ndarray  # the last epoch's mean loss (nan before)


def check(block: ml_collections.ConfigDict, image_shape) -> None:
  """UsageError for settings a trial cannot run, before any data is read."""
  where = "anomaly.geom"
  if image_shape[0] != image_shape[1]:
    raise UsageError(f"{where}: rotations need square images, not {image_shape[0]}x{image_shape[1]}")
  if not 0 < block.shift < image_shape[0]:
    raise UsageError(f"{where}.shift must be in 1..{image_shape[0] - 1} pixels, got {block.shift}")
  if block.epochs < 1 or block.batch_size < 1 or block.learning_rate <= 0:
    raise UsageError(f"{where}: epochs and batch_size must be >= 1 and learning_rate > 0")
  if not block.seeds:
    raise UsageError(f"{where}.seeds is empty")


@dataclasses.dataclass(frozen=True)
class _Compiled:
  init: Callable        # rng -> GeomState
  epoch: Callable       # (state, x_N, order over N * 72 pairs) -> state one epoch on
  log_probs: Callable   # (state, x chunk) -> (chunk, 72, 72) log-softmax under every transformation


def _compiled(block: ml_collections.ConfigDict, n: int, image_shape) -> _Compiled:
  """The jitted pieces of one block and normal-set size, made once per process: the classes and
  seeds of a study share them."""

  def make():
    batch = block.batch_size  # read now: the closures must not see a later block
    table = jnp.asarray(index_table(image_shape[0], image_shape[1], block.shift))
    num = table.shape[0]
    steps = n * num // batch  # the last partial batch of an epoch is dropped
    net = Classifier(tuple(block.features), block.rep_dim, block.stage_convs, num)
    tx = optax.adam(block.learning_rate)

    def init(rng):
      params = net.init(rng, jnp.zeros((1, *image_shape), jnp.float32))["params"]
      return GeomState(params=params, opt_state=tx.init(params), epoch=jnp.asarray(0, jnp.int32),
                       loss=jnp.asarray(jnp.nan, jnp.float32))

    def train_step(state, x_N, pairs_B):
      x = transform(x_N[pairs_B // num], pairs_B % num, table)

      def loss_fn(params):
        logits = net.apply({"params": params}, x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, pairs_B % num))

      loss, grads = jax.value_and_grad(loss_fn)(state.params)
      updates, opt_state = tx.update(grads, state.opt_state, state.params)
      return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), loss

    step = jax.jit(train_step, donate_argnums=0)

    def epoch(state, x_N, order):
      # Steps dispatched from Python: the same steps inside one jitted fori_loop ran about 25x
      # slower on XLA's CPU backend (1 s against 40 ms a step at batch 128, jax 0.10).
      total, order = jnp.zeros((), jnp.float32), np.asarray(order)
      for i in range(steps):
        state, loss = step(state, x_N, order[i * batch:(i + 1) * batch])
        total = total + loss
      return state.replace(epoch=state.epoch + 1, loss=total / steps)

    @jax.jit
    def log_probs(state, x_BxHxWxC):
      b = x_BxHxWxC.shape[0]
      every = transform(jnp.repeat(x_BxHxWxC, num, axis=0), jnp.tile(jnp.arange(num), b), table)
      return jax.nn.log_softmax(net.apply({"params": state.params}, every)).reshape((b, num, num))

    return _Compiled(jax.jit(init), epoch, log_probs)

  return compiled.once(("geom", json.dumps(block.to_dict(), sort_keys=True), n, tuple(image_shape)), make)


def fit(block: ml_collections.ConfigDict, normal_N: np.ndarray, test_M: np.ndarray, seed: int, trial_dir: str,
        progress: Optional[Callable[[int], None]] = None) -> dict:
  """One trial on uint8 normal train images; returns {"scores": (2, M) the test images' anomaly
  scores, Dirichlet then simple, "loss": the last epoch's mean loss, "seconds"}. Resumes from
  `trial_dir`'s checkpoint; `progress(epochs done)` after each epoch."""
  check(block, normal_N.shape[1:])
  n = len(normal_N)
  fns = _compiled(block, n, normal_N.shape[1:])
  t0 = time.perf_counter()
  x_N = jnp.asarray(normal_N, jnp.float32) / 255.0
  root = jax.random.key(seed)
  state = fns.init(jax.random.fold_in(root, 0))
  mngr, state, elapsed = checkpoint.open_trial(trial_dir, state, root)
  data_key = jax.random.fold_in(root, 1)
  num = len(transformations(block.shift))
  while (epoch := int(state.epoch)) < block.epochs:
    state = fns.epoch(state, x_N, loop.epoch_permutation(data_key, epoch, n * num))
    if not np.isfinite(float(state.loss)):
      raise UsageError(f"geom trial {seed}: non-finite loss at epoch {epoch + 1}; "
                       "try a lower anomaly.geom.learning_rate")
    if epoch + 1 < block.epochs:
      checkpoint.save(mngr, epoch + 1, checkpoint.pack(state, root, epoch + 1, elapsed + time.perf_counter() - t0))
    if progress is not None:
      progress(epoch + 1)
  log_p = lambda x: map_in_chunks(lambda chunk: fns.log_probs(state, chunk / 255.0), x.astype(np.float32), 100)
  train_log_p = jnp.asarray(log_p(normal_N))
  alpha = jax.vmap(dirichlet_mle, in_axes=1)(train_log_p)  # one Dirichlet per transformation
  dirichlet, simple = scores(jnp.asarray(log_p(test_M)), alpha)
  return {"scores": -np.stack([np.asarray(dirichlet), np.asarray(simple)]), "loss": float(state.loss),
          "seconds": round(elapsed + time.perf_counter() - t0, 1)}
