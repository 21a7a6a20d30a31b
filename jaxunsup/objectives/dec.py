"""DEC (Xie, Girshick & Farhadi 2016) and IDEC (Guo et al. 2017): clustering by training an
autoencoder's encoder together with the cluster centres.

Each image's soft assignment q to K centres is a Student-t kernel on the distance of its code to
each centre. Every `update_interval` steps the assignments of all images are sharpened into a
target p (q squared, divided by each cluster's total weight, normalised per image: confident
assignments count more and big clusters cannot swallow the others); in between, SGD lowers
KL(p || q) over the encoder and the centres. IDEC keeps the decoder and adds its reconstruction
error, so the codes keep the local structure of the data: loss = mse + gamma * KL.

The centres start as k-means of the pretrained codes; training stops when fewer than `tol` of the
images changed cluster between two target updates, or after `max_iter` steps. A trial is a pure
function of (the pretrained params, the data, its seed): resumed from its checkpoint after a
kill, it ends where an uninterrupted one does.
"""

import dataclasses
import functools
import math
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
from jaxunsup.train import checkpoint, compiled, loop

ALGORITHMS = ("dec", "idec")
OPTIMIZERS = ("sgd", "adam")


def log_soft_assign(z_NxD: jnp.ndarray, centres_KxD: jnp.ndarray, alpha: float = 1.0) -> jnp.ndarray:
  """log q: q_ij proportional to (1 + |z_i - mu_j|^2 / alpha)^(-(alpha + 1) / 2) (DEC eq. 1)."""
  d2_NxK = jnp.sum(jnp.square(z_NxD[:, None, :] - centres_KxD[None, :, :]), axis=-1)
  return jax.nn.log_softmax(-0.5 * (alpha + 1.0) * jnp.log1p(d2_NxK / alpha), axis=1)


def target_distribution(q_NxK: jnp.ndarray) -> jnp.ndarray:
  """p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), with f_j = sum_i q_ij (DEC eq. 3)."""
  w_NxK = jnp.square(q_NxK) / jnp.sum(q_NxK, axis=0)
  return w_NxK / jnp.sum(w_NxK, axis=1, keepdims=True)


def kl_divergence(p_NxK: jnp.ndarray, log_q_NxK: jnp.ndarray) -> jnp.ndarray:
  """KL(p || q) per image, averaged over the batch (DEC eq. 2 divided by the batch size)."""
  return jnp.mean(jnp.sum(jax.scipy.special.xlogy(p_NxK, p_NxK) - p_NxK * log_q_NxK, axis=1))


@flax.struct.dataclass
class DECState:
  """What a trial carries from one target update to the next."""
  params: Any            # {"encoder", "centres"} and, for IDEC, "decoder"
  opt_state: Any
  labels_N: jnp.ndarray  # hard assignments at the last target update: the stop test compares them
  updates: jnp.ndarray   # target updates done


@dataclasses.dataclass(frozen=True)
class Networks:
  """The pretrained autoencoder a trial starts from: apply functions and params."""
  encode: Callable       # (params, x in [0, 1]) -> codes
  decode: Optional[Callable]  # (params, codes) -> logits; IDEC only
  encoder_params: Any
  decoder_params: Any = None


def _optimizer(block) -> optax.GradientTransformation:
  if block.optimizer == "sgd":
    return optax.sgd(block.learning_rate, momentum=block.momentum or None)
  return optax.adam(block.learning_rate)


def loss_fn(params, x_BxHxWxC, p_BxK, *, nets: Networks, alpha: float, gamma: float):
  """DEC: KL(p || q). IDEC (params hold a decoder): mean squared reconstruction error + gamma KL."""
  z = nets.encode(params["encoder"], x_BxHxWxC)
  kl = kl_divergence(p_BxK, log_soft_assign(z, params["centres"], alpha))
  if "decoder" not in params:
    return kl, {"kl": kl}
  mse = jnp.mean(jnp.square(jax.nn.sigmoid(nets.decode(params["decoder"], z)) - x_BxHxWxC))
  return mse + gamma * kl, {"kl": kl, "mse": mse}


def train_step(params, opt_state, x_BxHxWxC, p_BxK, *, tx, nets: Networks, alpha: float, gamma: float):
  """One optimizer step on a batch with its targets; returns (params, opt_state, metrics)."""
  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      params, x_BxHxWxC, p_BxK, nets=nets, alpha=alpha, gamma=gamma)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, {"loss": loss, **metrics}


def check(block: ml_collections.ConfigDict, name: str) -> None:
  """UsageError for settings a trial cannot run, before any data is read."""
  if block.optimizer not in OPTIMIZERS:
    raise UsageError(f"clustering.{name}.optimizer must be one of {', '.join(OPTIMIZERS)}, "
                     f"got {block.optimizer!r}")
  for field in ("update_interval", "max_iter", "batch_size", "n_init", "checkpoint_updates"):
    if block[field] < 1:
      raise UsageError(f"clustering.{name}.{field} must be >= 1, got {block[field]}")
  if block.alpha <= 0 or block.learning_rate <= 0 or not 0 <= block.tol < 1 or block.gamma < 0:
    raise UsageError(f"clustering.{name}: alpha and learning_rate must be > 0, gamma >= 0 and tol in [0, 1)")


def check_clusters(num_examples: int, k: int) -> None:
  """UsageError when k clusters cannot be made of the images (DEC's and SCAN's trials)."""
  if k > num_examples:
    raise UsageError(f"{k} clusters cannot be made of {num_examples} images")


def check_size(block: ml_collections.ConfigDict, name: str, num_examples: int, k: int) -> None:
  """UsageError when the images to cluster are too few for k clusters or for one batch."""
  check_clusters(num_examples, k)
  if block.batch_size > num_examples:
    raise UsageError(f"clustering.{name}.batch_size {block.batch_size} is larger than the "
                     f"{num_examples} images clustered")


@dataclasses.dataclass(frozen=True)
class _Compiled:
  encode: Callable       # (encoder params, x uint8 chunk) -> codes
  assign: Callable       # (params, x uint8 chunk) -> log q
  run: Callable          # (state, x_N, p_N, order, base) -> (state, metrics of the last step)
  tx: optax.GradientTransformation


def _compiled(key, nets: Networks, block) -> _Compiled:
  """The jitted encoder, assignment and update_interval-step runner of one (source, block), made
  once per process (compiled.once): the trials of a study share them."""

  def make():
    tx = _optimizer(block)
    step = functools.partial(train_step, tx=tx, nets=nets, alpha=block.alpha, gamma=block.gamma)
    batch = block.batch_size

    @jax.jit
    def encode(encoder_params, x_uint8):
      return nets.encode(encoder_params, x_uint8.astype(jnp.float32) / 255.0)

    @jax.jit
    def assign(params, x_uint8):
      return log_soft_assign(nets.encode(params["encoder"], x_uint8.astype(jnp.float32) / 255.0),
                             params["centres"], block.alpha)

    @jax.jit
    def run(state: DECState, x_N, p_NxK, order_M, base):
      # base: this update's first step counted from the first epoch in order_M
      def body(t, carry):
        params, opt_state, _ = carry
        idx = jax.lax.dynamic_slice(order_M, ((base + t) * batch,), (batch,))
        x = x_N[idx].astype(jnp.float32) / 255.0
        return step(params, opt_state, x, p_NxK[idx])

      shapes = jax.eval_shape(step, state.params, state.opt_state,
                              jnp.zeros((batch, *x_N.shape[1:]), jnp.float32), p_NxK[:batch])[2]
      zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)  # the carry's metrics
      params, opt_state, metrics = jax.lax.fori_loop(
          0, block.update_interval, body, (state.params, state.opt_state, zero))
      return state.replace(params=params, opt_state=opt_state), metrics

    return _Compiled(encode, assign, run, tx)

  return compiled.once(("dec", key), make)


def total_updates(block: ml_collections.ConfigDict) -> int:
  """Target updates in a trial that runs to max_iter (rounded up to whole updates)."""
  return math.ceil(block.max_iter / block.update_interval)


def _order(data_key: jax.Array, first_epoch: int, epochs: int, n: int, steps_per_epoch: int,
           batch: int) -> jnp.ndarray:
  """The example order of `epochs` epochs from `first_epoch`, each a function of (seed, epoch)."""
  used = steps_per_epoch * batch  # the last partial batch of an epoch is dropped
  return jnp.concatenate([loop.epoch_permutation(data_key, e, n)[:used]
                          for e in range(first_epoch, first_epoch + epochs)])


def fit(name: str, block: ml_collections.ConfigDict, key, nets: Networks, images_N: np.ndarray, k: int,
        seed: int, trial_dir: str, progress: Optional[Callable[[int], None]] = None) -> dict:
  """One trial of DEC or IDEC (`name`) on uint8 images; resumes from `trial_dir`'s checkpoint.

  Returns {"labels": final hard assignments (N,), "kmeans_labels", "steps", "updates",
  "stopped": "tol" | "max_iter", "seconds"}. `key` names the pretrained source in the compile
  cache (the trials of one source and block share compiled code)."""
  from sklearn.cluster import KMeans  # pylint: disable=g-import-not-at-top  (slow import)
  n = len(images_N)
  check(block, name)
  check_size(block, name, n, k)
  steps_per_epoch = n // block.batch_size
  fns = _compiled(key, nets, block)
  t0 = time.perf_counter()
  x_N = jnp.asarray(images_N)
  codes = map_in_chunks(lambda x: fns.encode(nets.encoder_params, x), images_N, 5000)
  kmeans = KMeans(n_clusters=k, n_init=block.n_init, random_state=seed).fit(np.asarray(codes, np.float64))
  params = {"encoder": nets.encoder_params, "centres": jnp.asarray(kmeans.cluster_centers_, jnp.float32)}
  if name == "idec":
    params["decoder"] = nets.decoder_params
  state = DECState(params=params, opt_state=fns.tx.init(params),
                   labels_N=jnp.asarray(kmeans.labels_, jnp.int32), updates=jnp.asarray(0, jnp.int32))
  root = jax.random.key(seed)
  mngr, state, elapsed = checkpoint.open_trial(trial_dir, state, root)
  data_key = jax.random.fold_in(root, 1)
  last_update = total_updates(block)
  epochs_per_update = math.ceil(block.update_interval / steps_per_epoch) + 1
  stopped = "max_iter"
  while True:
    u = int(state.updates)
    log_q = map_in_chunks(lambda x: fns.assign(state.params, x), images_N, 5000)
    q = np.exp(log_q)
    labels = q.argmax(1).astype(np.int32)
    changed = float(np.mean(labels != np.asarray(state.labels_N)))
    if u > 0 and changed < block.tol:
      stopped = "tol"
      break
    if u >= last_update:
      break
    first_step = u * block.update_interval
    first_epoch = first_step // steps_per_epoch
    order = _order(data_key, first_epoch, epochs_per_update, n, steps_per_epoch, block.batch_size)
    p = target_distribution(jnp.asarray(q))
    state, metrics = fns.run(state.replace(labels_N=jnp.asarray(labels)), x_N, p, order,
                             first_step - first_epoch * steps_per_epoch)
    state = state.replace(updates=state.updates + 1)
    if not all(math.isfinite(float(v)) for v in metrics.values()):
      raise UsageError(f"{name} trial {seed}: non-finite loss after {u + 1} target updates; "
                       f"try a lower clustering.{name}.learning_rate")
    if progress is not None:
      progress(u + 1)
    if (u + 1) % block.checkpoint_updates == 0:
      seconds = elapsed + time.perf_counter() - t0
      checkpoint.save(mngr, u + 1, checkpoint.pack(state, root, u + 1, seconds))
  updates = int(state.updates)
  return {"labels": labels, "kmeans_labels": np.asarray(kmeans.labels_), "updates": updates,
          "steps": updates * block.update_interval, "stopped": stopped,
          "seconds": round(elapsed + time.perf_counter() - t0, 1), "changed": changed}

