"""The pretraining phase: train the shared conv encoder on unlabelled images, one objective per run.

Each objective runs through the one training loop in its own workdir, whose config.json is a
complete config of that run: the `autoencoder` and `denoising` runs are workdirs of the
autoencoder family (`jaxunsup.autoencoder.load` opens them); `simclr` runs hold a
`ContrastiveState`. `load_encoder(workdir)` reads the encoder out of any of them.
"""

import functools
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import augment as augment_lib
from jaxunsup import autoencoder, configs
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.errors import UsageError
from jaxunsup.models.conv import ConvEncoder
from jaxunsup.models.heads import ProjectionHead
from jaxunsup.objectives import contrastive
from jaxunsup.train import checkpoint, loop
from jaxunsup.train import state as state_lib
from jaxunsup.train import workdir as workdir_lib

OBJECTIVES = ("none", "autoencoder", "denoising", "simclr")  # none: the from-scratch baseline


def check_objective(objective: str) -> None:
  if objective not in OBJECTIVES:
    raise UsageError(f"unknown pretraining objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def build_encoder(model_cfg: ml_collections.ConfigDict) -> ConvEncoder:
  """The backbone from a `model` block with features, stage_convs, rep_dim and activation."""
  return ConvEncoder(tuple(model_cfg.features), model_cfg.rep_dim, model_cfg.activation,
                     model_cfg.stage_convs)


def _train_block(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  p = config.pretrain
  return ml_collections.ConfigDict({
      "batch_size": p.batch_size, "steps": p.steps, "learning_rate": p.learning_rate,
      "schedule": p.schedule, "final_lr_fraction": 0.0, "weight_decay": p.weight_decay,
      "grad_clip": 0.0, "loss": p.loss, "log_every": p.log_every, "eval_every": p.eval_every,
      "checkpoint_every": p.checkpoint_every, "max_to_keep": 2, "loop": p.loop})


def phase_config(config: ml_collections.ConfigDict, objective: str) -> ml_collections.ConfigDict:
  """The complete config of one objective's pretraining run, as its workdir stores it."""
  check_objective(objective)
  if objective == "none":
    raise UsageError("objective 'none' has no pretraining phase")
  m = config.model
  if objective in ("autoencoder", "denoising"):
    c = ae_configs.base()
    c.model.update(name="conv" if objective == "autoencoder" else "denoising", backbone="conv",
                   features=tuple(m.features), stage_convs=m.stage_convs, latent_dim=m.rep_dim,
                   activation=m.activation, noise=config.pretrain.noise,
                   noise_level=config.pretrain.noise_level)
    c.eval.update(examples=config.pretrain.eval_examples)
  else:
    c = ml_collections.ConfigDict({
        "model": ml_collections.ConfigDict(m.to_dict()),
        "simclr": {"temperature": config.pretrain.temperature,
                   "proj_hidden": config.pretrain.proj_hidden, "proj_dim": config.pretrain.proj_dim},
        "augment": ml_collections.ConfigDict(config.augment.to_dict()),
        "eval": {"examples": config.pretrain.eval_examples}})
  c.objective = objective
  c.seed = config.seed
  c.data = ml_collections.ConfigDict(config.data.to_dict())
  configs.copy_runtime_fields(config, c)
  c.train = _train_block(config)
  return c


def encoder_description(phase_cfg: ml_collections.ConfigDict) -> dict:
  """The backbone's architecture as recorded by a pretraining config (for compatibility checks)."""
  m = phase_cfg.model
  return {"features": list(m.features), "stage_convs": m.get("stage_convs", 1),
          "rep_dim": m.rep_dim if "rep_dim" in m else m.latent_dim, "activation": m.activation}


@functools.lru_cache(maxsize=16)
def _simclr_modules_and_optimizer(model_json: str, simclr_json: str, train_json: str) -> tuple:
  # One set of objects per config in a process: jit keys its caches on a state's apply_fn and tx,
  # so runs of one config (the one-class models, tests) share their compiled steps.
  model, simclr, train = (ml_collections.ConfigDict(json.loads(j)) for j in (model_json, simclr_json, train_json))
  return (build_encoder(model), ProjectionHead(simclr.proj_hidden, simclr.proj_dim),
          state_lib.make_optimizer(train))


def _simclr_init(config: ml_collections.ConfigDict, image_shape, rng: jax.Array) -> state_lib.ContrastiveState:
  encoder, projector, tx = _simclr_modules_and_optimizer(
      *(config[k].to_json(sort_keys=True) for k in ("model", "simclr", "train")))
  enc_rng, proj_rng = jax.random.split(rng)
  return state_lib.ContrastiveState(
      encoder=state_lib.create(encoder, enc_rng, jnp.zeros((1, *image_shape)), tx),
      projector=state_lib.create(projector, proj_rng, jnp.zeros((1, config.model.rep_dim)), tx))


@functools.lru_cache(maxsize=16)
def _simclr_step_and_eval(temperature: float, aug_items: tuple) -> tuple:
  # The same objects for the same choices, so the loop's cached runner and the eval's compile are
  # reused across runs.
  aug = dict(aug_items)

  @jax.jit
  def evaluate(state, eval_x, rng):
    views = contrastive.two_views(eval_x, rng, aug)
    loss, accuracy = contrastive.loss_on_views(state, state.encoder.params, state.projector.params,
                                               views, temperature)
    return {"nt_xent": loss, "pair_accuracy": accuracy}

  return functools.partial(contrastive.train_step, temperature=temperature, aug=aug), evaluate


def init_state(config: ml_collections.ConfigDict, image_shape, rng: jax.Array):
  """A fresh pretraining state of the objective `config` (a `phase_config`) names."""
  if config.objective == "simclr":
    return _simclr_init(config, image_shape, rng)
  return autoencoder.init_state(config, image_shape, rng)


def make_task(config: ml_collections.ConfigDict, image_shape, eval_x_NxHxWxC: np.ndarray) -> loop.Task:
  """The loop's view of one objective's pretraining (config: a `phase_config`)."""
  if config.objective != "simclr":
    return autoencoder.make_task(config, image_shape, eval_x_NxHxWxC)
  aug = augment_lib.settings(config.augment, config.data.name)
  train_step, evaluate = _simclr_step_and_eval(config.simclr.temperature, tuple(sorted(aug.items())))
  eval_x = jnp.asarray(eval_x_NxHxWxC)
  return loop.Task(init=lambda rng: _simclr_init(config, image_shape, rng), train_step=train_step,
                   evaluate=lambda state, rng: {k: float(v) for k, v in evaluate(state, eval_x, rng).items()})


def run(config: ml_collections.ConfigDict, objective: str, workdir: str, train: dict,
        eval_x_NxHxWxC: np.ndarray) -> loop.LoopResult:
  """Pretrains the encoder with `objective` in `workdir` (resuming if possible)."""
  phase = phase_config(config, objective)
  task = make_task(phase, train["image"].shape[1:], eval_x_NxHxWxC)
  return loop.train(phase, workdir, task, train)


def read_phase_config(workdir: str, objectives=OBJECTIVES[1:], kind: str = "") -> ml_collections.ConfigDict:
  """The config.json of a pretraining workdir whose objective is one of `objectives`; UsageError
  if it is not one (`kind`, such as "text ", names the family in the message)."""
  path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
  if not os.path.exists(path):
    raise UsageError(f"init_from {workdir} has no {workdir_lib.CONFIG_FILE}; is it a pretraining workdir?")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.get("objective") not in objectives:
    raise UsageError(f"init_from {workdir} is not a {kind}pretraining workdir (no known objective in its config)")
  return config


def load_encoder(workdir: str) -> tuple:
  """(phase config, encoder module, encoder params) from a pretraining workdir's latest checkpoint."""
  phase = read_phase_config(workdir)
  _, state, _ = checkpoint.load_trained(workdir, init_state)
  return phase, build_encoder(ml_collections.ConfigDict(encoder_description(phase))), state.encoder.params
