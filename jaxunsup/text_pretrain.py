"""The text pretraining phase: train the text encoder on unlabelled token ids, one objective per run.

Objectives: `seq_autoencoder` (read the text into one vector, decode it again; Dai & Le 2015) and
`language_model` (predict each next token; needs a one-way recurrent encoder); `none` is the
from-scratch baseline. Each run is a loop workdir whose config.json records the encoder and the
tokenizer's fingerprint, so a fine-tune from it can check both.
"""

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import configs, pretrain
from jaxunsup.errors import UsageError
from jaxunsup.models.text import CELLS, ConvTextEncoder, RecurrentEncoder, SequenceDecoder, TokenHead
from jaxunsup.objectives import sequence
from jaxunsup.text.tokenizer import Tokenizer
from jaxunsup.train import checkpoint, loop
from jaxunsup.train import state as state_lib

OBJECTIVES = ("none", "seq_autoencoder", "language_model")
ENCODERS = ("rnn", "conv")
_STEPS = {"seq_autoencoder": sequence.seq_autoencoder_step,
          "language_model": sequence.language_model_step}
_LOGITS = {"seq_autoencoder": sequence.seq_autoencoder_logits,
           "language_model": sequence.language_model_logits}


def check_objective(objective: str) -> None:
  if objective not in OBJECTIVES:
    raise UsageError(f"unknown pretraining objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def check_model(model_cfg: ml_collections.ConfigDict, objectives=()) -> None:
  """UsageError for an unknown encoder or cell, or a language model on an encoder that sees ahead."""
  if model_cfg.encoder not in ENCODERS:
    raise UsageError(f"unknown model.encoder {model_cfg.encoder!r}; choose one of {', '.join(ENCODERS)}")
  if model_cfg.encoder == "rnn" and model_cfg.cell not in CELLS:
    raise UsageError(f"unknown model.cell {model_cfg.cell!r}; choose one of {', '.join(CELLS)}")
  if "language_model" in objectives and (model_cfg.encoder != "rnn" or model_cfg.bidirectional):
    raise UsageError("the language_model objective needs a one-way recurrent encoder "
                     "(model.encoder rnn, model.bidirectional False)")


def rep_dim(model_cfg: ml_collections.ConfigDict) -> int:
  if model_cfg.encoder == "conv":
    return model_cfg.features[-1]
  return model_cfg.hidden * (2 if model_cfg.bidirectional else 1)


def build_encoder(model_cfg: ml_collections.ConfigDict, vocab_size: int):
  """The encoder from a `model` block; `vocab_size` comes from the tokenizer."""
  check_model(model_cfg)
  if model_cfg.encoder == "conv":
    return ConvTextEncoder(vocab_size, model_cfg.embed_dim, tuple(model_cfg.features), model_cfg.kernel)
  return RecurrentEncoder(vocab_size, model_cfg.embed_dim, model_cfg.hidden, model_cfg.cell,
                          model_cfg.bidirectional)


def encoder_description(config: ml_collections.ConfigDict) -> dict:
  """What a pretrained encoder must share with a fine-tune config: model and tokenizer."""
  m = config.model
  fields = ("encoder", "embed_dim") + (("features", "kernel") if m.encoder == "conv"
                                       else ("cell", "hidden", "bidirectional"))
  return {**{k: list(m[k]) if k == "features" else m[k] for k in fields},
          "tokenizer": config.tokenizer.fingerprint}


def phase_config(config: ml_collections.ConfigDict, objective: str,
                 tokenizer: Tokenizer) -> ml_collections.ConfigDict:
  """The complete config of one objective's pretraining run, as its workdir stores it."""
  check_objective(objective)
  if objective == "none":
    raise UsageError("objective 'none' has no pretraining phase")
  check_model(config.model, (objective,))
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


@functools.lru_cache(maxsize=16)
def _modules_and_optimizer(objective: str, model_json: str, vocab_size: int, train_json: str) -> tuple:
  # One set of objects per config in a process: jit keys its caches on them.
  model = ml_collections.ConfigDict(json.loads(model_json))
  encoder = build_encoder(model, vocab_size)
  if objective == "language_model":
    decoder = TokenHead(vocab_size)
  else:
    decoder = SequenceDecoder(vocab_size, model.embed_dim, model.hidden,
                              model.cell if model.encoder == "rnn" else "lstm")
  return encoder, decoder, state_lib.make_optimizer(ml_collections.ConfigDict(json.loads(train_json)))


def init_state(config: ml_collections.ConfigDict, input_shape, rng: jax.Array) -> state_lib.AEState:
  """Fresh encoder and predictor (token head or decoder), each with its own optimizer state."""
  encoder, decoder, tx = _modules_and_optimizer(
      config.objective, config.model.to_json(sort_keys=True), config.tokenizer.vocab_size,
      config.train.to_json(sort_keys=True))
  enc_rng, dec_rng = jax.random.split(rng)
  ids = jnp.zeros((1, *input_shape), jnp.int32)
  enc_params = encoder.init(enc_rng, ids)["params"]
  if config.objective == "language_model":
    _, out = encoder.apply({"params": enc_params}, ids, return_sequence=True)
    dec_params = decoder.init(dec_rng, out)["params"]
  else:
    z = encoder.apply({"params": enc_params}, ids)
    dec_params = decoder.init(dec_rng, z, ids[:, :-1])["params"]
  return state_lib.AEState(
      encoder=state_lib.TrainState.create(apply_fn=encoder.apply, params=enc_params, tx=tx),
      decoder=state_lib.TrainState.create(apply_fn=decoder.apply, params=dec_params, tx=tx))


@functools.partial(jax.jit, static_argnames="objective")
def _evaluate(state, ids, objective: str) -> dict:
  logits = _LOGITS[objective](state, state.encoder.params, state.decoder.params, ids)
  loss, accuracy = sequence.token_loss(logits, ids[:, 1:])
  return {"loss": loss, "perplexity": jnp.exp(loss), "token_accuracy": accuracy}


def make_task(config: ml_collections.ConfigDict, eval_ids: np.ndarray) -> loop.Task:
  """The loop's view of one objective's pretraining (config: a `phase_config`)."""
  ids = jnp.asarray(eval_ids)
  objective = config.objective
  return loop.Task(
      init=lambda rng: init_state(config, eval_ids.shape[1:], rng), train_step=_STEPS[objective],
      evaluate=lambda state, rng: {k: float(v) for k, v in _evaluate(state, ids, objective).items()})


def run(config: ml_collections.ConfigDict, objective: str, workdir: str, tokenizer: Tokenizer,
        train_ids: np.ndarray, eval_ids: np.ndarray) -> loop.LoopResult:
  """Pretrains the encoder with `objective` on `train_ids` in `workdir` (resuming if possible)."""
  phase = phase_config(config, objective, tokenizer)
  return loop.train(phase, workdir, make_task(phase, eval_ids), {"ids": train_ids})


def read_phase_config(workdir: str) -> ml_collections.ConfigDict:
  """The config.json of a text pretraining workdir; UsageError if it is not one."""
  return pretrain.read_phase_config(workdir, OBJECTIVES[1:], kind="text ")


def load_encoder(workdir: str) -> tuple:
  """(phase config, encoder module, encoder params) from a pretraining workdir's latest checkpoint."""
  phase = read_phase_config(workdir)
  _, state, _ = checkpoint.load_trained(workdir, init_state)
  return phase, build_encoder(phase.model, phase.tokenizer.vocab_size), state.encoder.params
