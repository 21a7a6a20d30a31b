"""UMAP (McInnes, Healy & Melville 2018): an embedding that keeps each point's nearest neighbours.

1. Graph: each point's `neighbours` nearest points (Euclidean; the point itself counts as the
   first, as in the paper). Point i's membership strength for neighbour j is
   exp(-(d_ij - rho_i) / sigma_i), rho_i its distance to its nearest other point and sigma_i
   chosen so that the strengths add up to log2(neighbours). The directed graph A is made
   symmetric by the fuzzy union A + A^T - A * A^T.
2. Start: the graph's spectral embedding (the leading non-trivial eigenvectors of its
   normalised adjacency), scaled into [0, 10] per dimension.
3. Layout: `epochs` passes of stochastic gradient steps on the fuzzy cross-entropy. Edge (i, j)
   of weight w is sampled every max(w) / w epochs, pulling i and j together with
   the low-dimensional similarity 1 / (1 + a d^2b); each sample also pushes i away from
   `negatives` random points. Every coordinate step is clipped to 4 and the step size falls
   linearly from 1 to 0 over the epochs, as in the paper's implementation; a and b fit that
   similarity to `min_dist` and `spread`.

The reference implementation updates edges one at a time. Here an epoch's edges are split into
`batches` groups in a fixed random order, each applied at once (`scatter-add`), the next group
seeing the moves of the one before: a point's pulls from its neighbours within a group add up
instead of following each other. Edges with weight under max(w) / epochs are never sampled
and are dropped, as in the reference.

`embed` is a pure function of (features, settings, seed): the same seed gives the same embedding.
"""

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, sparse
from scipy.sparse import linalg as sparse_linalg


def nearest(features_NxD: np.ndarray, k: int, chunk: int = 2000) -> tuple:
  """(distances, indices), each (N, k): every row's k nearest other rows by Euclidean distance,
  nearest first; a row is never its own neighbour."""
  z = jnp.asarray(features_NxD, jnp.float32)
  sq_N = jnp.sum(z * z, axis=1)

  # All rows are arguments, not a closure: a closed-over array is baked into the program.
  @jax.jit
  def top(rows_CxD, all_NxD, all_sq_N, first):
    d2_CxN = jnp.sum(rows_CxD * rows_CxD, axis=1)[:, None] + all_sq_N[None] - 2.0 * rows_CxD @ all_NxD.T
    own = first + jnp.arange(rows_CxD.shape[0])
    d2_CxN = d2_CxN.at[jnp.arange(rows_CxD.shape[0]), own].set(jnp.inf)
    neg_d2, idx = jax.lax.top_k(-d2_CxN, k)
    return jnp.sqrt(jnp.maximum(-neg_d2, 0.0)), idx

  parts = [top(z[i:i + chunk], z, sq_N, i) for i in range(0, len(z), chunk)]
  return (np.concatenate([np.asarray(d) for d, _ in parts]).astype(np.float64),
          np.concatenate([np.asarray(i) for _, i in parts]).astype(np.int64))


def memberships(distances_NxK: np.ndarray, search_steps: int = 64) -> np.ndarray:
  """(N, K) membership strengths of each point's K nearest other points: exp(-(d - rho) / sigma),
  1 for the nearest (d = rho), with sigma found by bisection so that a row's K strengths add up to
  log2(K + 1): the paper's target for K + 1 neighbours, the point itself counted first."""
  d = np.asarray(distances_NxK, np.float64)
  positive = np.where(d > 0, d, np.inf)
  rho_N = np.min(positive, axis=1)
  rho_N[~np.isfinite(rho_N)] = 0.0  # every neighbour a duplicate
  excess = d - rho_N[:, None]
  target = np.log2(d.shape[1] + 1)

  def total(sigma_N):
    return np.sum(np.where(excess > 0, np.exp(-excess / sigma_N[:, None]), 1.0), axis=1)

  low, high, sigma = np.zeros(len(d)), np.full(len(d), np.inf), np.ones(len(d))
  for _ in range(search_steps):
    above = total(sigma) > target
    high = np.where(above, sigma, high)
    low = np.where(above, low, sigma)
    sigma = np.where(np.isinf(high), sigma * 2.0, (low + high) / 2.0)
  sigma = np.maximum(sigma, 1e-3 * np.mean(d, axis=1))  # the reference's floor for tight clumps
  return np.where(excess > 0, np.exp(-excess / np.maximum(sigma, 1e-12)[:, None]), 1.0)


def fuzzy_graph(indices_NxK: np.ndarray, strengths_NxK: np.ndarray) -> sparse.coo_matrix:
  """The symmetric (N, N) graph A + A^T - A * A^T of the directed strengths A."""
  n, k = indices_NxK.shape
  a = sparse.csr_matrix((strengths_NxK.ravel(), (np.repeat(np.arange(n), k), indices_NxK.ravel())),
                        shape=(n, n))
  graph = (a + a.T - a.multiply(a.T)).tocoo()
  graph.eliminate_zeros()
  return graph


def curve(min_dist: float, spread: float) -> tuple:
  """(a, b) with 1 / (1 + a x^2b) closest, in least squares over x in [0, 3 spread], to 1 below
  min_dist and exp(-(x - min_dist) / spread) above it: the embedding's similarity."""
  x = np.linspace(0.0, 3.0 * spread, 300)
  y = np.where(x < min_dist, 1.0, np.exp(-(x - min_dist) / spread))
  (a, b), _ = optimize.curve_fit(lambda x, a, b: 1.0 / (1.0 + a * x ** (2.0 * b)), x, y, p0=(1.0, 1.0))
  return float(a), float(b)


def spectral_start(graph: sparse.coo_matrix, dim: int) -> np.ndarray:
  """(N, dim): the eigenvectors of D^-1/2 W D^-1/2 after the leading one, largest eigenvalue first
  (those of the normalised Laplacian's smallest after zero). ARPACK starts from a fixed vector, so
  the result is the same every time."""
  degree = np.asarray(graph.sum(axis=1)).ravel()
  scale = sparse.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
  values, vectors = sparse_linalg.eigsh(scale @ graph.tocsr() @ scale, dim + 1, which="LA",
                                        v0=np.ones(graph.shape[0]), tol=1e-4, maxiter=graph.shape[0] * 5)
  return vectors[:, np.argsort(values)[::-1][1:dim + 1]]


@functools.partial(jax.jit, static_argnames=("a", "b", "negatives", "epochs"))
def _epoch(y_NxD, next_sample_GxE, head_GxE, tail_GxE, every_GxE, epoch, key, *, a, b, negatives, epochs):
  """One epoch: the groups of edges (G, E) one after another; an edge is sampled when its next
  sample is due (<= epoch). Padding edges are never due (every = inf)."""
  alpha = 1.0 - epoch / epochs
  n = y_NxD.shape[0]

  def group(y, inputs):
    head, tail, due_E, key = inputs
    due = due_E[:, None]
    diff = y[head] - y[tail]
    d2 = jnp.sum(diff * diff, axis=1, keepdims=True)
    # d/dy_head of log(1 / (1 + a d^2b)), as the reference's attractive step
    pull = jnp.where(d2 > 0, -2.0 * a * b * d2 ** (b - 1.0) / (1.0 + a * d2 ** b), 0.0)
    attract = jnp.where(due, jnp.clip(pull * diff, -4.0, 4.0), 0.0) * alpha
    others = jax.random.randint(key, (head.shape[0], negatives), 0, n)
    away = y[head][:, None] - y[others]
    e2 = jnp.sum(away * away, axis=-1, keepdims=True)
    push = 2.0 * b / ((1e-3 + e2) * (1.0 + a * e2 ** b))  # of log(1 - 1 / (1 + a d^2b)), softened at 0
    repel = jnp.where((e2 > 0) & due[:, None], jnp.clip(push * away, -4.0, 4.0), 0.0).sum(axis=1) * alpha
    return y.at[head].add(attract + repel).at[tail].add(-attract), None

  due_GxE = next_sample_GxE <= epoch
  keys = jax.random.split(jax.random.fold_in(key, epoch), head_GxE.shape[0])
  y_NxD, _ = jax.lax.scan(group, y_NxD, (head_GxE, tail_GxE, due_GxE, keys))
  return y_NxD, jnp.where(due_GxE, next_sample_GxE + every_GxE, next_sample_GxE)


def layout(graph: sparse.coo_matrix, start_NxD: np.ndarray, seed: int, epochs: int = 200, min_dist: float = 0.0,
           spread: float = 1.0, negatives: int = 5, batches: int = 10,
           progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
  """(N, D) float32: the start optimised for `epochs` epochs on the graph's edges."""
  a, b = curve(min_dist, spread)
  w = graph.data
  keep = w >= w.max() / epochs
  head, tail, every = graph.row[keep], graph.col[keep], w.max() / w[keep]
  rng = np.random.default_rng(seed)
  order = rng.permutation(len(head))
  per = -(-len(head) // batches)
  pad = per * batches - len(head)

  def grouped(values, fill, dtype):
    return jnp.asarray(np.concatenate([values[order], np.full(pad, fill)]).reshape(batches, per), dtype)

  head_GxE, tail_GxE = grouped(head, 0, jnp.int32), grouped(tail, 0, jnp.int32)
  every_GxE = grouped(every, np.inf, jnp.float32)
  start = start_NxD * (10.0 / np.max(np.abs(start_NxD))) + rng.normal(scale=1e-4, size=start_NxD.shape)
  y = jnp.asarray(10.0 * (start - start.min(0)) / (start.max(0) - start.min(0)), jnp.float32)
  next_sample, key = every_GxE, jax.random.key(seed)
  for epoch in range(epochs):
    y, next_sample = _epoch(y, next_sample, head_GxE, tail_GxE, every_GxE, jnp.float32(epoch), key, a=a, b=b,
                            negatives=negatives, epochs=epochs)
    if progress is not None:
      progress(epoch + 1)
  return np.asarray(y)


def neighbour_graph(features_NxD: np.ndarray, neighbours: int) -> tuple:
  """(the fuzzy graph, (N, neighbours - 1) the mined neighbours' indices): the point itself counts
  as the first of its `neighbours`, as in the paper."""
  distances, indices = nearest(features_NxD, neighbours - 1)
  return fuzzy_graph(indices, memberships(distances)), indices


def embed(features_NxD: np.ndarray, dim: int, seed: int, neighbours: int = 15, **layout_args) -> np.ndarray:
  """(N, dim): UMAP of the features; `layout_args` as `layout`'s."""
  graph, _ = neighbour_graph(features_NxD, neighbours)
  return layout(graph, spectral_start(graph, dim), seed, **layout_args)
