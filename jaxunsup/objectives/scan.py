"""SCAN (Van Gansbeke et al. 2020): clustering by agreeing with nearest neighbours, then
self-labelling, on a frozen representation.

1. Mining: each image's `neighbours` nearest images by cosine similarity of its features.
2. SCAN loss: a head h (features -> K-way softmax) is trained so that an image and a random one of
   its neighbours get the same cluster, -log <h(x), h(n)>, minus `entropy_weight` times the entropy
   of the batch's mean assignment, which keeps every image from falling into one cluster.
3. Self-labelling: images whose assignment is confident (largest probability above `threshold`)
   are labelled by it, and the head learns those labels by cross-entropy on an augmented view of
   the image, each cluster weighted by the inverse of its share of the confident images.

The paper also trains the backbone in steps 2 and 3, on augmented images. Here the encoder stays
frozen (the study's sources are fixed): the head sees its features, standardised per dimension,
and an augmented view is the features of one of `views` augmented copies of every image, encoded
once per source (`augmented_features`). Anchors and neighbours in step 2 are drawn from the clean
and augmented views alike, as the paper augments both. As in the paper, a trial may train several
heads side by side on the same batches (`heads`, each from its own initialisation) and keep the one
whose SCAN loss over every image and all its neighbours is lowest (`head_losses`); the study reports
the spread over trials.

A trial is a pure function of (features, views, neighbours, seed): resumed from its checkpoint
after a kill, it ends where an uninterrupted one does.
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

from jaxunsup import augment
from jaxunsup.chunked import map_in_chunks
from jaxunsup.errors import UsageError
from jaxunsup.models.heads import ProjectionHead
from jaxunsup.objectives import dec
from jaxunsup.train import checkpoint, compiled


def scan_loss(logits_anchor_BxK: jnp.ndarray, logits_neighbour_BxK: jnp.ndarray,
              entropy_weight: float) -> tuple:
  """-mean_i log <p(anchor_i), p(neighbour_i)> - entropy_weight * H(mean_i p(anchor_i)): the SCAN loss."""
  p_anchor = jax.nn.softmax(logits_anchor_BxK)
  p_neighbour = jax.nn.softmax(logits_neighbour_BxK)
  consistency = -jnp.mean(jnp.log(jnp.clip(jnp.sum(p_anchor * p_neighbour, axis=1), 1e-8)))
  mean_p = jnp.mean(p_anchor, axis=0)
  entropy = -jnp.sum(jax.scipy.special.xlogy(mean_p, mean_p))
  return consistency - entropy_weight * entropy, {"consistency": consistency, "entropy": entropy}


def self_label_loss(logits_weak_BxK: jnp.ndarray, logits_strong_BxK: jnp.ndarray, threshold: float) -> tuple:
  """Cross-entropy of the strong view against the weak view's argmax, over the images whose weak
  probability exceeds `threshold`, each weighted by 1 / (its cluster's count among them): the
  weighted mean sum_i w_i CE_i / sum_i w_i. Zero when no image is confident."""
  p_weak = jax.nn.softmax(jax.lax.stop_gradient(logits_weak_BxK))
  mask = jnp.max(p_weak, axis=1) > threshold
  target = jnp.argmax(p_weak, axis=1)
  k = logits_weak_BxK.shape[1]
  counts = jnp.zeros((k,), jnp.float32).at[target].add(mask.astype(jnp.float32))
  weight = jnp.where(mask, 1.0 / jnp.maximum(counts[target], 1.0), 0.0)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits_strong_BxK, target)
  loss = jnp.sum(weight * ce) / jnp.maximum(jnp.sum(weight), 1e-12)
  return loss, {"confident": jnp.mean(mask.astype(jnp.float32))}


def nearest_neighbours(features_NxD: np.ndarray, k: int, chunk: int = 2000) -> np.ndarray:
  """(N, k) indices of each row's k most cosine-similar other rows, nearest first."""
  z = jnp.asarray(features_NxD, jnp.float32)
  z = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-12)
  n = len(features_NxD)

  # All rows are an argument, not a closure: a closed-over array is baked into the program.
  @jax.jit
  def top(rows_CxD, all_NxD, first):
    sims = rows_CxD @ all_NxD.T
    own = first + jnp.arange(rows_CxD.shape[0])
    sims = sims.at[jnp.arange(rows_CxD.shape[0]), own].set(-jnp.inf)  # not its own neighbour
    return jax.lax.top_k(sims, k)[1]

  return np.concatenate([np.asarray(top(z[i:i + chunk], z, i)) for i in range(0, n, chunk)]).astype(np.int32)


def augmented_features(encode: Callable[[np.ndarray], np.ndarray], images_N: np.ndarray, views: int,
                       settings: dict, seed: int, chunk: int = 1000) -> np.ndarray:
  """(views, N, D): the features `encode` gives `views` augmented copies of uint8 images."""

  @jax.jit
  def view(x_uint8, key):
    x = augment.augment(x_uint8.astype(jnp.float32) / 255.0, key, **settings)
    return jnp.round(x * 255.0).astype(jnp.uint8)

  out = []
  for v in range(views):
    key = jax.random.fold_in(jax.random.key(seed), v)
    augmented = np.concatenate([np.asarray(view(images_N[i:i + chunk], jax.random.fold_in(key, i)))
                                for i in range(0, len(images_N), chunk)])
    out.append(np.asarray(encode(augmented), np.float32))
  return np.stack(out)


def check(block: ml_collections.ConfigDict, dataset: str) -> None:
  """UsageError for settings a trial cannot run, before any data is read."""
  where = "clustering.scan"
  for field in ("heads", "neighbours", "batch_size", "self_label_batch", "views", "checkpoint_steps"):
    if block[field] < 1:
      raise UsageError(f"{where}.{field} must be >= 1, got {block[field]}")
  if block.scan_steps < 1 or block.self_label_steps < 0:
    raise UsageError(f"{where}: scan_steps must be >= 1 and self_label_steps >= 0")
  if block.learning_rate <= 0 or block.weight_decay < 0 or block.entropy_weight < 0:
    raise UsageError(f"{where}: learning_rate must be > 0, weight_decay and entropy_weight >= 0")
  if not 0 < block.threshold < 1:
    raise UsageError(f"{where}.threshold must be in (0, 1), got {block.threshold}")
  augment.settings(block.augment, dataset, f"{where}.augment")


def check_size(block: ml_collections.ConfigDict, num_examples: int, k: int) -> None:
  """UsageError when the images are too few for k clusters or for the neighbours asked for."""
  dec.check_clusters(num_examples, k)
  if block.neighbours >= num_examples:
    raise UsageError(f"clustering.scan.neighbours {block.neighbours} needs more than that many images; "
                     f"{num_examples} are clustered")


def head_losses(probs_NxHxK: np.ndarray, neighbours_NxK: np.ndarray, entropy_weight: float) -> np.ndarray:
  """(H,): each head's SCAN loss over the clean images, every image against each of its mined
  neighbours: the criterion by which the paper keeps one of its heads. Deterministic, unlike the
  loss of the last training batches."""
  p = np.asarray(probs_NxHxK, np.float64)
  out = []
  for h in range(p.shape[1]):
    agree = np.einsum("nk,njk->nj", p[:, h], p[neighbours_NxK, h])
    mean_p = p[:, h].mean(0)
    entropy = -np.sum(mean_p * np.log(np.maximum(mean_p, 1e-30)))
    out.append(-np.mean(np.log(np.maximum(agree, 1e-8))) - entropy_weight * entropy)
  return np.asarray(out)


@flax.struct.dataclass
class ScanState:
  params: Any                 # every head's, stacked on a leading axis
  opt_state: Any
  step: jnp.ndarray
  scan_labels_N: jnp.ndarray  # the kept head's clusters when self-labelling began
  head: jnp.ndarray           # the kept head, chosen when self-labelling began (or at the end)


@dataclasses.dataclass(frozen=True)
class _Compiled:
  init: Callable         # (rng, n) -> ScanState
  scan: Callable         # (state, views, neighbours, key) -> (state, metrics): checkpoint_steps SCAN steps
  self_label: Callable   # (state, views, key) -> (state, metrics): as many self-labelling steps
  assign: Callable       # (params, features chunk) -> (chunk, heads, K) cluster probabilities


def _optimizer(block: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.adamw(block.learning_rate, weight_decay=block.weight_decay)


def _compiled(block: ml_collections.ConfigDict, dim: int, k: int) -> _Compiled:
  """The jitted pieces of one block, feature size and k, made once per process: the trials and
  sources of a study with equal shapes share them."""

  def make():
    head = ProjectionHead(block.hidden, k)
    tx = _optimizer(block)
    batch, label_batch, chunk = block.batch_size, block.self_label_batch, block.checkpoint_steps
    entropy_weight, threshold = block.entropy_weight, block.threshold

    def logits(params, z):  # (heads, B, K)
      return jax.vmap(lambda p: head.apply({"params": p}, z))(params)

    def init(rng, n):
      # Head 0 takes the trial's key itself, so a one-head trial starts where the single head of
      # earlier versions did.
      keys = jnp.stack([rng] + [jax.random.fold_in(rng, h) for h in range(1, block.heads)])
      params = jax.vmap(lambda r: head.init(r, jnp.zeros((1, dim), jnp.float32))["params"])(keys)
      return ScanState(params=params, opt_state=tx.init(params), step=jnp.asarray(0, jnp.int32),
                       scan_labels_N=jnp.zeros((n,), jnp.int32), head=jnp.asarray(0, jnp.int32))

    def summed(loss_fn):  # the heads' losses add up (as the paper's); each head's gradient is its own
      def total(logits_a, logits_b):
        losses, metrics = jax.vmap(loss_fn)(logits_a, logits_b)
        return jnp.sum(losses), jax.tree.map(jnp.mean, metrics)
      return total

    def update(state, loss_fn):
      (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
      updates, opt_state = tx.update(grads, state.opt_state, state.params)
      return (state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state,
                            step=state.step + 1), {"loss": loss, **metrics})

    def scan_step(state, views_VxNxD, neighbours_NxK, key):
      num_views, n = views_VxNxD.shape[:2]
      k_idx, k_nb, k_va, k_vn = jax.random.split(jax.random.fold_in(key, state.step), 4)
      idx = jax.random.randint(k_idx, (batch,), 0, n)
      nb = neighbours_NxK[idx, jax.random.randint(k_nb, (batch,), 0, neighbours_NxK.shape[1])]
      anchor = views_VxNxD[jax.random.randint(k_va, (batch,), 0, num_views), idx]
      neighbour = views_VxNxD[jax.random.randint(k_vn, (batch,), 0, num_views), nb]
      loss = summed(lambda a, b: scan_loss(a, b, entropy_weight))
      return update(state, lambda p: loss(logits(p, anchor), logits(p, neighbour)))

    def self_label_step(state, views_VxNxD, key):
      num_views, n = views_VxNxD.shape[:2]
      k_idx, k_v = jax.random.split(jax.random.fold_in(key, state.step))
      idx = jax.random.randint(k_idx, (label_batch,), 0, n)
      weak = views_VxNxD[0, idx]  # view 0 is the clean images
      strong = views_VxNxD[jax.random.randint(k_v, (label_batch,), 1, num_views), idx]
      loss = summed(lambda a, b: self_label_loss(a, b, threshold))
      return update(state, lambda p: loss(logits(p, weak), logits(p, strong)))

    def steps(step_fn):
      def run(state, *args):
        zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(step_fn, state, *args)[1])
        return jax.lax.fori_loop(0, chunk, lambda _, carry: step_fn(carry[0], *args), (state, zero))
      return jax.jit(run)

    assign = jax.jit(lambda params, z: jnp.swapaxes(jax.nn.softmax(logits(params, z)), 0, 1))
    return _Compiled(jax.jit(init, static_argnums=1), steps(scan_step), steps(self_label_step), assign)

  return compiled.once(("scan", json.dumps(block.to_dict(), sort_keys=True), dim, k), make)


def total_chunks(block: ml_collections.ConfigDict) -> int:
  """Checkpoint chunks in a trial: the SCAN steps, then the self-labelling steps, each rounded up
  to whole chunks."""
  return -(-block.scan_steps // block.checkpoint_steps) + -(-block.self_label_steps // block.checkpoint_steps)


def standardise(features_NxD: np.ndarray, views_VxNxD: np.ndarray) -> np.ndarray:
  """The clean features stacked before the views (view 0), scaled by the clean features' mean and
  std per dimension: the head's input, whatever the source's scale."""
  mean, std = features_NxD.mean(0), features_NxD.std(0) + 1e-6
  return ((np.concatenate([features_NxD[None], views_VxNxD]) - mean) / std).astype(np.float32)


def fit(block: ml_collections.ConfigDict, inputs_VxNxD: np.ndarray, neighbours_NxK: np.ndarray, k: int,
        seed: int, trial_dir: str, progress: Optional[Callable[[int], None]] = None) -> dict:
  """One trial on standardised inputs (`standardise`: clean features first, then augmented views)
  and mined neighbours; resumes from `trial_dir`'s checkpoint. The kept head is the one with the
  lowest `head_losses` when the SCAN step ends. Returns {"labels": (N,) the kept head's final
  clusters, "scan_labels": its clusters before self-labelling, "head": which head was kept,
  "head_losses": every head's SCAN loss at the end, "head_labels": (heads, N) every head's final
  clusters, "confident": the share of images above the threshold at the end, "empty_clusters" and
  "scan_empty_clusters": clusters no image is assigned to, at the end and before self-labelling,
  "seconds"}; `progress(chunks done)`."""
  n, dim = inputs_VxNxD.shape[1:]
  check_size(block, n, k)
  fns = _compiled(block, dim, k)
  t0 = time.perf_counter()
  root = jax.random.key(seed)
  state = fns.init(jax.random.fold_in(root, 0), n)
  mngr, state, elapsed = checkpoint.open_trial(trial_dir, state, root)
  views, neighbours = jnp.asarray(inputs_VxNxD), jnp.asarray(neighbours_NxK)
  data_key = jax.random.fold_in(root, 1)
  chunk = block.checkpoint_steps
  scan_chunks = -(-block.scan_steps // chunk)
  probs = lambda: map_in_chunks(lambda z: fns.assign(state.params, z), inputs_VxNxD[0], 10000)
  while (done := int(state.step) // chunk) < total_chunks(block):
    if done < scan_chunks:
      state, metrics = fns.scan(state, views, neighbours, data_key)
    else:
      if done == scan_chunks:  # self-labelling starts from a fresh optimizer, as the paper's
        p = probs()
        head = int(np.argmin(head_losses(p, neighbours_NxK, block.entropy_weight)))
        state = state.replace(opt_state=_optimizer(block).init(state.params), head=jnp.asarray(head, jnp.int32),
                              scan_labels_N=jnp.asarray(p[:, head].argmax(1), jnp.int32))
      state, metrics = fns.self_label(state, views, data_key)
    if not np.isfinite(float(metrics["loss"])):
      raise UsageError(f"scan trial {seed}: non-finite loss after {int(state.step)} steps; "
                       "try a lower clustering.scan.learning_rate")
    seconds = elapsed + time.perf_counter() - t0
    checkpoint.save(mngr, done + 1, checkpoint.pack(state, root, done + 1, seconds))
    if progress is not None:
      progress(done + 1)
  p = probs()
  losses = head_losses(p, neighbours_NxK, block.entropy_weight)
  head = int(state.head) if block.self_label_steps else int(np.argmin(losses))
  head_labels = p.argmax(2).T.astype(np.int32)
  labels = head_labels[head]
  scan_labels = np.asarray(state.scan_labels_N) if block.self_label_steps else labels
  return {"labels": labels, "scan_labels": scan_labels, "head": head, "head_losses": losses.tolist(),
          "head_labels": head_labels, "confident": float(np.mean(p[:, head].max(1) > block.threshold)),
          "empty_clusters": k - len(np.unique(labels)), "scan_empty_clusters": k - len(np.unique(scan_labels)),
          "seconds": round(elapsed + time.perf_counter() - t0, 1)}
