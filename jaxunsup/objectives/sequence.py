"""Text pretraining objectives: next-token language model and sequence autoencoder.

Both read a batch of `tokenizer` ids `<bos> w1 .. wk <eos> <pad> ..` and predict ids[:, 1:] from
what comes before, counting only real targets (not padding). The language model predicts each
token from the encoder's own outputs; the sequence autoencoder (Dai & Le 2015) first reads the
whole sequence into one vector, and a decoder started from that vector predicts it again.
Each keeps encoder and predictor in an `AEState`: two TrainStates, two optimizer states.
"""

import jax
import jax.numpy as jnp
import optax

from jaxunsup.text.tokenizer import PAD
from jaxunsup.train.state import AEState, global_norm


def token_loss(logits_BxTxV: jnp.ndarray, targets_BxT: jnp.ndarray) -> tuple:
  """(mean cross-entropy, accuracy) over the targets that are not padding."""
  mask = (targets_BxT != PAD).astype(jnp.float32)
  count = jnp.maximum(jnp.sum(mask), 1.0)
  nll = optax.softmax_cross_entropy_with_integer_labels(logits_BxTxV, targets_BxT)
  correct = jnp.argmax(logits_BxTxV, -1) == targets_BxT
  return jnp.sum(nll * mask) / count, jnp.sum(correct * mask) / count


def language_model_logits(state: AEState, enc_params, head_params, ids_BxT: jnp.ndarray) -> jnp.ndarray:
  """Logits for ids[:, 1:] from the encoder's outputs over ids[:, :-1] (a one-way encoder)."""
  _, out = state.encoder.apply_fn({"params": enc_params}, ids_BxT[:, :-1], return_sequence=True)
  return state.decoder.apply_fn({"params": head_params}, out)


def seq_autoencoder_logits(state: AEState, enc_params, dec_params, ids_BxT: jnp.ndarray) -> jnp.ndarray:
  """Logits for ids[:, 1:] from the decoder started at the code of the whole of ids."""
  z = state.encoder.apply_fn({"params": enc_params}, ids_BxT)
  return state.decoder.apply_fn({"params": dec_params}, z, ids_BxT[:, :-1])


def _step(logits_fn, state: AEState, ids_BxT: jnp.ndarray):
  def loss_fn(enc_params, dec_params):
    return token_loss(logits_fn(state, enc_params, dec_params, ids_BxT), ids_BxT[:, 1:])

  (loss, accuracy), (g_enc, g_dec) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      state.encoder.params, state.decoder.params)
  new_state = AEState(encoder=state.encoder.apply_gradients(grads=g_enc),
                      decoder=state.decoder.apply_gradients(grads=g_dec))
  return new_state, {"loss": loss, "token_accuracy": accuracy, "perplexity": jnp.exp(loss),
                     "grad_norm": global_norm([g_enc, g_dec])}


def language_model_step(state: AEState, batch: dict, rng: jax.Array):
  """One step of encoder and token head on next-token cross-entropy."""
  del rng
  return _step(language_model_logits, state, batch["ids"])


def seq_autoencoder_step(state: AEState, batch: dict, rng: jax.Array):
  """One step of encoder and decoder on reconstructing the sequence from its code."""
  del rng
  return _step(seq_autoencoder_logits, state, batch["ids"])
