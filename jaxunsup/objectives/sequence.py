"""Text pretraining objectives: next-token language model and sequence autoencoder.

Both read a batch of `tokenizer` ids `<bos> w1 .. wk <eos> <pad> ..` and predict ids[:, 1:] from
what comes before, counting only real targets (not padding). The language model predicts each
token from the encoder's own outputs; the sequence autoencoder (Dai & Le 2015) first reads the
whole sequence into one vector, and a decoder started from that vector predicts it again.
Each keeps encoder and predictor in an `AEState`: two TrainStates, two optimizer states.
Registered as the text pretraining objectives `seq_autoencoder` and `language_model`.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxunsup import configs, models
from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.models.text import SequenceDecoder, TokenHead
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.text.tokenizer import PAD
from jaxunsup.train import state as state_lib
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


def check(config: ml_collections.ConfigDict) -> None:
  """UsageError for an unknown encoder, or a language model on an encoder that sees ahead."""
  models.check_text_encoder(config.model)
  if config.objective == "language_model" and (config.model.encoder != "rnn" or config.model.bidirectional):
    raise UsageError("the language_model objective needs a one-way recurrent encoder "
                     "(model.encoder rnn, model.bidirectional False)")


def phase_config(config: ml_collections.ConfigDict, objective: str, tokenizer) -> ml_collections.ConfigDict:
  """The complete config of one objective's text pretraining run, as its workdir stores it; it
  records the tokenizer's fingerprint, so a fine-tune from it can check it reads the same ids."""
  p = config.pretrain
  c = ml_collections.ConfigDict({
      "objective": objective, "seed": config.seed, "data": config.data.to_dict(),
      "model": config.model.to_dict(),
      "tokenizer": {"vocab_size": tokenizer.vocab_size, "max_len": tokenizer.max_len,
                    "fingerprint": tokenizer.fingerprint()},
      "train": {"batch_size": p.batch_size, "steps": p.steps, "learning_rate": p.learning_rate,
                "schedule": p.schedule, "final_lr_fraction": 0.0, "weight_decay": p.weight_decay,
                "grad_clip": p.grad_clip, "log_every": p.log_every, "eval_every": p.eval_every,
                "checkpoint_every": p.checkpoint_every, "max_to_keep": 2, "loop": p.loop},
      "eval": {"examples": p.eval_examples}})
  configs.copy_runtime_fields(config, c)
  return c


def _build(config: ml_collections.ConfigDict, spec: InputSpec, logits_fn, step) -> Parts:
  encoder = models.build_encoder(config.model, spec)
  m = config.model
  lm = logits_fn is language_model_logits
  decoder = TokenHead(spec.vocab_size) if lm else SequenceDecoder(
      spec.vocab_size, m.embed_dim, m.hidden, m.cell if m.encoder == "rnn" else "lstm")
  tx = state_lib.make_optimizer(config.train)

  def init(rng):
    enc_rng, dec_rng = jax.random.split(rng)
    ids = jnp.zeros((1, *spec.shape), jnp.int32)
    enc_params = encoder.init(enc_rng, ids)["params"]
    if lm:
      _, out = encoder.apply({"params": enc_params}, ids, return_sequence=True)
      dec_params = decoder.init(dec_rng, out)["params"]
    else:
      z = encoder.apply({"params": enc_params}, ids)
      dec_params = decoder.init(dec_rng, z, ids[:, :-1])["params"]
    return AEState(encoder=state_lib.TrainState.create(apply_fn=encoder.apply, params=enc_params, tx=tx),
                   decoder=state_lib.TrainState.create(apply_fn=decoder.apply, params=dec_params, tx=tx))

  @jax.jit
  def evaluate(state, ids, rng):
    del rng
    loss, accuracy = token_loss(logits_fn(state, state.encoder.params, state.decoder.params, ids), ids[:, 1:])
    return {"loss": loss, "perplexity": jnp.exp(loss), "token_accuracy": accuracy}

  @jax.jit
  def encode(state, ids):
    return state.encoder.apply_fn({"params": state.encoder.params}, ids)

  return Parts(init=init, train_step=step, examples_per_step=config.train.batch_size, evaluate=evaluate,
               encode=encode, encoder_params=lambda state: state.encoder.params,
               modules={"encoder": encoder, "decoder": decoder})


register(Objective("text_pretrain", "seq_autoencoder",
                   functools.partial(_build, logits_fn=seq_autoencoder_logits, step=seq_autoencoder_step),
                   check, phase_config=functools.partial(phase_config, objective="seq_autoencoder")))
register(Objective("text_pretrain", "language_model",
                   functools.partial(_build, logits_fn=language_model_logits, step=language_model_step),
                   check, phase_config=functools.partial(phase_config, objective="language_model")))
