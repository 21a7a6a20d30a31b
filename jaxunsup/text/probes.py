"""What a pretrained text encoder learnt, shown on sentences: reconstructions and neighbours."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxunsup.eval import anomaly
from jaxunsup.text.tokenizer import BOS, PAD, Tokenizer


@functools.partial(jax.jit, static_argnums=(0, 1))
def _greedy(encoder_apply, decoder_apply, enc_params, dec_params, ids_BxT):
  """The decoder's input grows by its own most likely token at each step, from the code of ids."""
  z = encoder_apply({"params": enc_params}, ids_BxT)
  steps = ids_BxT.shape[1] - 1  # the decoder reads T - 1 tokens and predicts the T - 1 after <bos>
  inputs = jnp.zeros((ids_BxT.shape[0], steps), jnp.int32).at[:, 0].set(BOS)

  def predict(inputs, t):
    logits = decoder_apply({"params": dec_params}, z, inputs)[:, t]
    # Padding is not a word: one inside the sequence would end it early for the decoder's RNN.
    return jnp.argmax(logits.at[:, PAD].set(-jnp.inf), -1).astype(jnp.int32)

  inputs = jax.lax.fori_loop(0, steps - 1, lambda t, x: x.at[:, t + 1].set(predict(x, t)), inputs)
  return jnp.concatenate([inputs[:, 1:], predict(inputs, steps - 1)[:, None]], 1)


def reconstruct(state, tok: Tokenizer, texts: list) -> list:
  """The sequence autoencoder's greedy decoding of each text from its code (a list of str)."""
  ids = tok.encode(texts)["ids"]
  out = np.asarray(_greedy(state.encoder.apply_fn, state.decoder.apply_fn, state.encoder.params,
                           state.decoder.params, jnp.asarray(ids)))
  return [tok.decode(np.concatenate([[BOS], row])) for row in out]


def nearest_neighbours(features_NxD: np.ndarray, queries: list, k: int = 3) -> dict:
  """For each query index, the indices of its k most cosine-similar other rows."""
  unit = anomaly.unit(features_NxD)
  out = {}
  for q in queries:
    sims = unit @ unit[q]
    sims[q] = -np.inf
    out[q] = np.argsort(-sims, kind="stable")[:k].tolist()
  return out
