"""k-nearest-neighbour classification on frozen features (cosine similarity)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _normalize(x_NxD: jnp.ndarray) -> jnp.ndarray:
  return x_NxD / jnp.maximum(jnp.linalg.norm(x_NxD, axis=-1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def _vote(bank_NxD, bank_labels_N, query_MxD, k: int, num_classes: int, temperature: float):
  sims_MxN = _normalize(query_MxD) @ _normalize(bank_NxD).T
  top_sims_MxK, top_idx_MxK = jax.lax.top_k(sims_MxN, k)
  # Neighbours vote with weight exp(sim / T) (Wu et al. 2018), so near ones count more.
  weights_MxK = jnp.exp(top_sims_MxK / temperature)
  votes_MxC = jnp.einsum("mk,mkc->mc", weights_MxK, jax.nn.one_hot(bank_labels_N[top_idx_MxK], num_classes))
  return jnp.argmax(votes_MxC, axis=-1)


def knn_predict(bank_NxD: np.ndarray, bank_labels_N: np.ndarray, query_MxD: np.ndarray, k: int,
                num_classes: int, temperature: float = 0.1, chunk: int = 2000) -> np.ndarray:
  """Predicted labels of the queries from their k most cosine-similar bank entries."""
  k = min(k, len(bank_NxD))
  bank, labels = jnp.asarray(bank_NxD, jnp.float32), jnp.asarray(bank_labels_N, jnp.int32)
  return np.concatenate([np.asarray(_vote(bank, labels, jnp.asarray(query_MxD[i:i + chunk], jnp.float32),
                                          k, num_classes, temperature))
                         for i in range(0, len(query_MxD), chunk)])
