"""Text encoders and objectives: masking, causality, and the losses on hand-made batches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxunsup.models.text import (ConvTextEncoder, RecurrentEncoder, SequenceDecoder, TokenHead)
from jaxunsup.objectives import sequence
from jaxunsup.text import probes
from jaxunsup.train.state import AEState, TrainState

V = 12
# <bos>=2 ... <eos>=3, padded with 0
IDS = jnp.array([[2, 5, 6, 7, 3, 0, 0],
                 [2, 8, 3, 0, 0, 0, 0],
                 [2, 3, 0, 0, 0, 0, 0],
                 [2, 9, 9, 10, 11, 5, 3]])


def _pad(ids, extra):
  return jnp.concatenate([ids, jnp.zeros((ids.shape[0], extra), ids.dtype)], 1)


@pytest.mark.parametrize("encoder", [
    RecurrentEncoder(V, 8, 16, "lstm"), RecurrentEncoder(V, 8, 16, "gru"),
    RecurrentEncoder(V, 8, 16, "lstm", bidirectional=True), ConvTextEncoder(V, 8, (16, 16), 3)])
def test_padding_does_not_change_the_encoding(encoder):
  params = encoder.init(jax.random.key(0), IDS)
  z = encoder.apply(params, IDS)
  np.testing.assert_allclose(encoder.apply(params, _pad(IDS, 9)), z, rtol=1e-6, atol=1e-6)
  # and it does depend on the tokens
  assert not np.allclose(encoder.apply(params, IDS.at[0, 2].set(4)), z)


def _state(encoder, decoder, dec_inputs, tx=optax.adam(3e-2)):
  enc_params = encoder.init(jax.random.key(1), IDS)["params"]
  dec_params = decoder.init(jax.random.key(2), *dec_inputs)["params"]
  return AEState(encoder=TrainState.create(apply_fn=encoder.apply, params=enc_params, tx=tx),
                 decoder=TrainState.create(apply_fn=decoder.apply, params=dec_params, tx=tx))


def _lm_state():
  return _state(RecurrentEncoder(V, 8, 16), TokenHead(V), (jnp.zeros((1, 1, 16)),))


def _ae_state():
  return _state(RecurrentEncoder(V, 8, 16, bidirectional=True), SequenceDecoder(V, 8, 16),
                (jnp.zeros((IDS.shape[0], 32)), IDS[:, :-1]))


def test_token_loss_by_hand():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 4)).astype(np.float32)
  targets = np.array([[1, 2, 0], [3, 0, 0]])
  nll = [np.log(np.exp(logits[b, t]).sum()) - logits[b, t, targets[b, t]] for b, t in [(0, 0), (0, 1), (1, 0)]]
  hits = [logits[b, t].argmax() == targets[b, t] for b, t in [(0, 0), (0, 1), (1, 0)]]
  loss, accuracy = sequence.token_loss(jnp.asarray(logits), jnp.asarray(targets))
  assert float(loss) == pytest.approx(np.mean(nll), rel=1e-6)
  assert float(accuracy) == pytest.approx(np.mean(hits))


def _fixed_output(params, log_p):
  """Output layer params that ignore the input: logits = log_p at every step."""
  params = jax.tree_util.tree_map(lambda x: x, params)
  params["kernel"] = jnp.zeros_like(params["kernel"])
  params["bias"] = jnp.asarray(log_p)
  return params


# The 13 real targets of IDS[:, 1:] (everything but the padding), by hand.
TARGETS = [5, 6, 7, 3, 8, 3, 3, 9, 9, 10, 11, 5, 3]


@pytest.mark.parametrize("objective", ["language_model", "seq_autoencoder"])
def test_objective_losses_on_a_hand_made_batch(objective):
  log_p = np.log(np.arange(1, V + 1, dtype=np.float32) / np.sum(np.arange(1, V + 1)))
  if objective == "language_model":
    state = _lm_state()
    head = {"logits": _fixed_output(state.decoder.params["logits"], log_p)}
    logits = sequence.language_model_logits(state, state.encoder.params, head, IDS)
  else:
    state = _ae_state()
    dec = dict(state.decoder.params)
    dec["head"] = {"logits": _fixed_output(dec["head"]["logits"], log_p)}
    logits = sequence.seq_autoencoder_logits(state, state.encoder.params, dec, IDS)
  loss, accuracy = sequence.token_loss(logits, IDS[:, 1:])
  assert float(loss) == pytest.approx(-np.mean(log_p[TARGETS]), rel=1e-5)
  assert float(accuracy) == pytest.approx(np.mean(np.array(TARGETS) == V - 1))  # argmax is V-1


def test_language_model_is_causal():
  state = _lm_state()
  logits = sequence.language_model_logits(state, state.encoder.params, state.decoder.params, IDS)
  changed = sequence.language_model_logits(state, state.encoder.params, state.decoder.params,
                                           IDS.at[3, 4].set(6))
  # Position t predicts token t+1 from tokens 0..t: changing token 4 leaves steps 0..3 alone.
  np.testing.assert_allclose(changed[3, :4], logits[3, :4], rtol=1e-6, atol=1e-6)
  assert not np.allclose(changed[3, 4], logits[3, 4])


@pytest.mark.parametrize("objective", ["language_model", "seq_autoencoder"])
def test_train_steps_fit_a_tiny_batch(objective):
  state = _lm_state() if objective == "language_model" else _ae_state()
  step = jax.jit(getattr(sequence, f"{objective}_step"))
  _, first = step(state, {"ids": IDS}, jax.random.key(0))
  for _ in range(60):
    state, metrics = step(state, {"ids": IDS}, jax.random.key(0))
  assert float(metrics["loss"]) < 0.3 * float(first["loss"])
  assert float(metrics["perplexity"]) == pytest.approx(float(np.exp(metrics["loss"])), rel=1e-5)


def test_greedy_decoding_reads_back_a_memorised_batch():
  state = _ae_state()
  step = jax.jit(sequence.seq_autoencoder_step)
  for _ in range(200):
    state, metrics = step(state, {"ids": IDS}, jax.random.key(0))
  assert float(metrics["token_accuracy"]) == 1.0
  out = np.asarray(probes._greedy(state.encoder.apply_fn, state.decoder.apply_fn,  # pylint: disable=protected-access
                                  state.encoder.params, state.decoder.params, IDS))
  targets = np.asarray(IDS[:, 1:])
  valid = targets != 0
  np.testing.assert_array_equal(out[valid], targets[valid])


def test_nearest_neighbours_by_cosine():
  features = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
  assert probes.nearest_neighbours(features, [0, 2], k=2) == {0: [1, 2], 2: [1, 0]}
