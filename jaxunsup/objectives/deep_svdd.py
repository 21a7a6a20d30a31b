"""Deep SVDD (Ruff et al. 2018): one-class anomaly detection by pulling the normal class's codes
into a small sphere around a fixed centre.

A trial is the paper's protocol for one normal class: images are global-contrast normalised (L1)
and min-max scaled by the normal class's train images; a bias-free autoencoder
(models/lenet.py) is pretrained on the normal class (sum of squared pixel errors), the centre c
is the mean code of the normal images under the pretrained encoder (components nearer zero than
`eps` pushed out to +-eps, so no unit can reach c by dying), then the encoder alone minimises the
mean of |phi(x) - c|^2 (the one-class objective). The anomaly score is |phi(x) - c|^2. Both
phases are Adam with L2 weight decay and a learning rate cut by 10 at a milestone epoch.

A trial is a pure function of (seed, normal images): resumed from its checkpoint after a kill, it
ends with the scores of an uninterrupted one.
"""

import dataclasses
import functools
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
from jaxunsup.models.lenet import LeNetDecoder, LeNetEncoder
from jaxunsup.train import checkpoint, compiled, loop

IMAGE_SHAPE = (28, 28)  # the decoder mirrors the 28 -> 14 -> 7 encoder


def contrast_normalise(x_NxHxWxC: np.ndarray) -> np.ndarray:
  """Each image minus its mean, divided by its mean absolute deviation (global contrast
  normalisation with the L1 scale, as the paper's preprocessing)."""
  x = np.asarray(x_NxHxWxC, np.float32)
  x = x - x.mean(axis=(1, 2, 3), keepdims=True)
  return x / np.maximum(np.abs(x).mean(axis=(1, 2, 3), keepdims=True), 1e-8)


def preprocess(normal_N: np.ndarray, *others: np.ndarray) -> list:
  """Contrast-normalised images, min-max scaled by the normal train images' range (the same
  affine map for every split, so test images may leave [0, 1])."""
  normal = contrast_normalise(normal_N)
  lo, hi = float(normal.min()), float(normal.max())
  return [(x - lo) / (hi - lo) for x in (normal, *map(contrast_normalise, others))]


def reconstruction_loss(recon_BxHxWxC: jnp.ndarray, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
  """Squared error summed over an image's pixels, averaged over the batch."""
  return jnp.mean(jnp.sum(jnp.square(recon_BxHxWxC - x_BxHxWxC), axis=(1, 2, 3)))


def distances(z_NxD: jnp.ndarray, centre_D: jnp.ndarray) -> jnp.ndarray:
  """|phi(x) - c|^2 of each code: the loss terms and the anomaly scores."""
  return jnp.sum(jnp.square(z_NxD - centre_D), axis=1)


def initial_centre(codes_NxD: jnp.ndarray, eps: float) -> jnp.ndarray:
  """The mean code, components within eps of zero set to eps with their sign (zero to +eps)."""
  c = jnp.mean(codes_NxD, axis=0)
  return jnp.where(jnp.abs(c) < eps, jnp.where(c < 0, -eps, eps), c)


@flax.struct.dataclass
class SVDDState:
  """Both phases' networks and optimizer states; `epoch` counts pretraining epochs first."""
  params: Any        # {"encoder", "decoder"}
  batch_stats: Any   # {"encoder", "decoder"}: batch norm's running statistics
  ae_opt: Any        # {"encoder", "decoder"}: the pretraining Adam, one state per network
  svdd_opt: Any      # the encoder's Adam of the one-class phase
  centre: jnp.ndarray
  epoch: jnp.ndarray
  losses: jnp.ndarray  # the last pretraining and one-class epochs' mean losses (nan before)


def _adam(learning_rate: float, weight_decay: float, milestone_step: int) -> optax.GradientTransformation:
  # torch's Adam(weight_decay=...) adds the decay to the gradient before the moments (L2, not AdamW)
  schedule = optax.piecewise_constant_schedule(learning_rate, {milestone_step: 0.1})
  return optax.chain(optax.add_decayed_weights(weight_decay), optax.scale_by_adam(),
                     optax.scale_by_learning_rate(schedule))


@dataclasses.dataclass(frozen=True)
class _Nets:
  encoder: LeNetEncoder
  decoder: LeNetDecoder
  ae_tx: optax.GradientTransformation
  svdd_tx: optax.GradientTransformation


def _encode(nets: _Nets, params, stats, x, train: bool):
  return nets.encoder.apply({"params": params, "batch_stats": stats}, x, train,
                            mutable=["batch_stats"] if train else False)


def ae_train_step(state: SVDDState, x_BxHxWxC: jnp.ndarray, *, nets: _Nets):
  """One pretraining step of encoder and decoder on a batch; returns (state, loss)."""

  def loss_fn(params):
    z, enc = _encode(nets, params["encoder"], state.batch_stats["encoder"], x_BxHxWxC, True)
    recon, dec = nets.decoder.apply({"params": params["decoder"], "batch_stats": state.batch_stats["decoder"]},
                                    z, True, mutable=["batch_stats"])
    return reconstruction_loss(recon, x_BxHxWxC), {"encoder": enc["batch_stats"], "decoder": dec["batch_stats"]}

  (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  params, opt = {}, {}
  for net in ("encoder", "decoder"):
    updates, opt[net] = nets.ae_tx.update(grads[net], state.ae_opt[net], state.params[net])
    params[net] = optax.apply_updates(state.params[net], updates)
  return state.replace(params=params, batch_stats=stats, ae_opt=opt), loss


def svdd_train_step(state: SVDDState, x_BxHxWxC: jnp.ndarray, *, nets: _Nets):
  """One step of the one-class objective on the encoder; returns (state, loss)."""

  def loss_fn(params):
    z, enc = _encode(nets, params, state.batch_stats["encoder"], x_BxHxWxC, True)
    return jnp.mean(distances(z, state.centre)), enc["batch_stats"]

  (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["encoder"])
  updates, opt = nets.svdd_tx.update(grads, state.svdd_opt, state.params["encoder"])
  return state.replace(params={**state.params, "encoder": optax.apply_updates(state.params["encoder"], updates)},
                       batch_stats={**state.batch_stats, "encoder": stats}, svdd_opt=opt), loss


def check(block: ml_collections.ConfigDict, image_shape) -> None:
  """UsageError for settings a trial cannot run, before any data is read."""
  where = "anomaly.deep_svdd"
  if tuple(image_shape[:2]) != IMAGE_SHAPE:
    raise UsageError(f"{where}: the LeNet autoencoder takes 28x28 images, not {image_shape[0]}x{image_shape[1]}")
  if len(block.features) != 2 or min(block.features) < 1 or block.rep_dim < 16 or block.rep_dim % 16:
    raise UsageError(f"{where}: features must be two widths >= 1 and rep_dim a multiple of 16 "
                     f"(the decoder starts from a 4x4 map), got {tuple(block.features)} and {block.rep_dim}")
  if block.epochs < 1 or block.ae_epochs < 0 or block.batch_size < 1 or block.checkpoint_epochs < 1:
    raise UsageError(f"{where}: epochs, batch_size and checkpoint_epochs must be >= 1 and ae_epochs >= 0")
  if block.learning_rate <= 0 or block.weight_decay < 0 or block.ae_weight_decay < 0 or block.eps < 0:
    raise UsageError(f"{where}: learning_rate must be > 0; weight decays and eps >= 0")
  if not block.seeds:
    raise UsageError(f"{where}.seeds is empty")


def check_size(block: ml_collections.ConfigDict, num_normal: int) -> None:
  if block.batch_size > num_normal:
    raise UsageError(f"anomaly.deep_svdd.batch_size {block.batch_size} is larger than the {num_normal} "
                     "normal train images of a class")


@dataclasses.dataclass(frozen=True)
class _Compiled:
  init: Callable         # rng -> SVDDState
  ae_epoch: Callable     # (state, x_N, order) -> state one epoch on, its mean loss in `losses`
  svdd_epoch: Callable
  encode: Callable       # (state, x chunk) -> codes, batch norm from its running statistics
  centre: Callable       # (state, codes) -> state with the centre set


def _compiled(block: ml_collections.ConfigDict, n: int, image_shape) -> _Compiled:
  """The jitted pieces of one block and normal-set size, made once per process: the classes and
  seeds of a study share them."""

  def make():
    batch, eps, dim = block.batch_size, block.eps, block.rep_dim  # read now: the closures must not see a later block
    steps = n // batch  # the last partial batch of an epoch is dropped
    nets = _Nets(LeNetEncoder(tuple(block.features), block.rep_dim),
                 LeNetDecoder(tuple(block.features), block.rep_dim, image_shape[-1]),
                 _adam(block.learning_rate, block.ae_weight_decay, block.ae_milestone * steps),
                 _adam(block.learning_rate, block.weight_decay, block.milestone * steps))

    def init(rng):
      k_enc, k_dec = jax.random.split(rng)
      x = jnp.zeros((1, *image_shape), jnp.float32)
      enc = nets.encoder.init(k_enc, x, False)
      dec = nets.decoder.init(k_dec, jnp.zeros((1, dim)), False)
      params = {"encoder": enc["params"], "decoder": dec["params"]}
      return SVDDState(params=params, batch_stats={"encoder": enc["batch_stats"], "decoder": dec["batch_stats"]},
                       ae_opt={k: nets.ae_tx.init(v) for k, v in params.items()},
                       svdd_opt=nets.svdd_tx.init(params["encoder"]),
                       centre=jnp.zeros((dim,), jnp.float32), epoch=jnp.asarray(0, jnp.int32),
                       losses=jnp.full((2,), jnp.nan, jnp.float32))

    def epoch_of(step, slot: int):
      @jax.jit
      def run(state, x_N, order_N):
        def body(t, carry):
          s, total = carry
          s, loss = step(s, x_N[jax.lax.dynamic_slice(order_N, (t * batch,), (batch,))])
          return s, total + loss
        state, total = jax.lax.fori_loop(0, steps, body, (state, jnp.zeros((), jnp.float32)))
        return state.replace(epoch=state.epoch + 1, losses=state.losses.at[slot].set(total / steps))
      return run

    @jax.jit
    def encode(state, x):
      return _encode(nets, state.params["encoder"], state.batch_stats["encoder"], x, False)

    @jax.jit
    def centre(state, codes_NxD):
      return state.replace(centre=initial_centre(codes_NxD, eps))

    return _Compiled(jax.jit(init), epoch_of(functools.partial(ae_train_step, nets=nets), 0),
                     epoch_of(functools.partial(svdd_train_step, nets=nets), 1), encode, centre)

  return compiled.once(("deep_svdd", json.dumps(block.to_dict(), sort_keys=True), n, tuple(image_shape)), make)


def fit(block: ml_collections.ConfigDict, normal_N: np.ndarray, test_M: np.ndarray, seed: int, trial_dir: str,
        progress: Optional[Callable[[int], None]] = None) -> dict:
  """One trial on uint8 normal train images; returns {"scores": the test images' anomaly scores
  (M,), "ae_loss", "svdd_loss": the last epoch's mean losses, "seconds"}. Resumes from
  `trial_dir`'s checkpoint; `progress(epochs done)` after each epoch.

  The checkpoint at the switch holds the pretrained state without the centre, which is computed
  again from it on resume: the same centre."""
  check(block, normal_N.shape[1:])
  check_size(block, len(normal_N))
  n = len(normal_N)
  fns = _compiled(block, n, normal_N.shape[1:])
  t0 = time.perf_counter()
  normal, test = preprocess(normal_N, test_M)
  x_N = jnp.asarray(normal)
  root = jax.random.key(seed)
  state = fns.init(jax.random.fold_in(root, 0))
  mngr, state, elapsed = checkpoint.open_trial(trial_dir, state, root)
  data_key = jax.random.fold_in(root, 1)
  total = block.ae_epochs + block.epochs
  codes = lambda s, x: map_in_chunks(lambda chunk: fns.encode(s, chunk), x, 2000)
  while (epoch := int(state.epoch)) < total:
    if epoch == block.ae_epochs:  # a checkpoint is never written between this and the next epoch
      state = fns.centre(state, codes(state, normal))
    pretraining = epoch < block.ae_epochs
    state = (fns.ae_epoch if pretraining else fns.svdd_epoch)(state, x_N, loop.epoch_permutation(data_key, epoch, n))
    if not np.isfinite(float(state.losses[0 if pretraining else 1])):
      raise UsageError(f"deep_svdd trial {seed}: non-finite loss at epoch {epoch + 1}; "
                       "try a lower anomaly.deep_svdd.learning_rate")
    if progress is not None:
      progress(epoch + 1)
    if (epoch + 1) % block.checkpoint_epochs == 0 and epoch + 1 < total:
      checkpoint.save(mngr, epoch + 1, checkpoint.pack(state, root, epoch + 1, elapsed + time.perf_counter() - t0))
  scores = np.asarray(distances(jnp.asarray(codes(state, test)), state.centre))
  ae_loss, svdd_loss = map(float, np.asarray(state.losses))
  return {"scores": scores, "ae_loss": ae_loss, "svdd_loss": svdd_loss,
          "seconds": round(elapsed + time.perf_counter() - t0, 1)}

