"""The one registry of objectives, and where their compiled parts are built.

An objective is one `Objective` record, registered by its module in this folder under a family
and a name ("autoencoder"/"vae", "gan"/"wgan_gp", "pretrain"/"simclr", ...). Its `build(config,
spec)` returns the `Parts` every recipe needs: a pure init and train step, an evaluation, and
how to read features, images or samples out of its state. Recipes look objectives up with
`get(family, name)` and call `parts(objective, config, spec)`; nobody branches on a name.

`parts` builds each objective once per config that affects compiled code (through
train/compiled.py, the process's one cache). jit keys its caches on the identity of the step
function and of the state's static fields (a module's apply, an optimizer), so runs of equal
configs (the cells of a sweep, ten one-class models, a test and a notebook in one process) must
get the very same objects to share their compiles.
"""

import dataclasses
import json
from typing import Any, Callable, Mapping, Optional

import jax
import ml_collections

from jaxunsup.data.specs import InputSpec, model_inputs, to_model
from jaxunsup.errors import UsageError
from jaxunsup.train import compiled, loop, precision


@dataclasses.dataclass(frozen=True)
class Parts:
  """What an objective gives a recipe for one config; every callable is pure, jitted where noted.

  init: rng -> state.
  train_step: (state, batch, rng) -> (state, metrics); the loop jits it.
  examples_per_step: examples one step takes (a WGAN critic takes several batches).
  evaluate: jitted (state, eval inputs, rng) -> {name: scalar}, the cheap periodic evaluation.
  encode: jitted (state, inputs) -> features (N, D): what the representation studies read; uint8
    images are scaled to [0, 1] inside it.
  encoder_params: state -> the encoder's params, for fine-tuning from this state.
  decode: jitted (state, z) -> images in [0, 1], for objectives with a decoder.
  sample: (state, rng, num) -> num images in [0, 1] drawn from the model, for generative ones.
  anomaly_score: (state, inputs, rng, samples) -> one score per example, higher is more
    anomalous (`samples`: Monte Carlo draws, for objectives whose score is an estimate).
  unit_features: whether features are compared by direction only (contrastive objectives).
  test_scores: (state, test inputs in [0, 1]) -> {name: float}, extra test figures of a run.
  latent_kl: jitted (state, inputs in [0, 1]) -> (N, D) KL(q(z_d|x) || N(0, 1)) of each latent
    dimension, for objectives with a Gaussian posterior; orders the latent traversals (a learnt
    prior such as the VampPrior does not factorise by latent, so its runs use N(0, 1) too).
  posterior: jitted (state, inputs in [0, 1]) -> (mean, log-variance) of q(z|x), for objectives
    with a Gaussian posterior: the features M1+M2 (jaxunsup/semi.py) classifies from.
  modules: the networks by role, for code that needs a module itself (kNN on an encoder).
  """
  init: Callable[[jax.Array], Any]
  train_step: Callable
  examples_per_step: int
  evaluate: Optional[Callable] = None
  encode: Optional[Callable] = None
  encoder_params: Optional[Callable[[Any], Any]] = None
  decode: Optional[Callable] = None
  sample: Optional[Callable] = None
  anomaly_score: Optional[Callable] = None
  test_scores: Optional[Callable] = None
  latent_kl: Optional[Callable] = None
  posterior: Optional[Callable] = None
  unit_features: bool = False
  modules: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _no_check(config: ml_collections.ConfigDict) -> None:
  del config


@dataclasses.dataclass(frozen=True)
class Objective:
  """One registered objective.

  build: (config, spec) -> Parts, for a run config of its family.
  check: raises UsageError on a config it cannot train, before data is read or files written.
  phase_config: for pretraining objectives, (experiment config, **context) -> the complete
    config of its pretraining run, as that run's workdir stores it.
  """
  family: str
  name: str
  build: Callable[[ml_collections.ConfigDict, InputSpec], Parts]
  check: Callable[[ml_collections.ConfigDict], None] = _no_check
  phase_config: Optional[Callable[..., ml_collections.ConfigDict]] = None


_REGISTRY: dict = {}


def register(objective: Objective) -> Objective:
  """Adds `objective` under (family, name); a second record of the same name is a bug."""
  key = (objective.family, objective.name)
  if key in _REGISTRY:
    raise ValueError(f"objective {objective.family}/{objective.name} is registered twice")
  _REGISTRY[key] = objective
  return objective


def _load_all() -> None:
  # The objective modules register themselves on import.
  import jaxunsup.objectives  # noqa: F401  pylint: disable=import-outside-toplevel


def names(family: str) -> tuple:
  """The registered objectives of a family, in registration order."""
  _load_all()
  return tuple(name for fam, name in _REGISTRY if fam == family)


def get(family: str, name: str) -> Objective:
  """The record of `name` in `family`; UsageError naming the choices if there is none."""
  _load_all()
  if (family, name) not in _REGISTRY:
    raise UsageError(f"unknown {family} objective {name!r}; choose one of {', '.join(names(family))}")
  return _REGISTRY[(family, name)]


# Fields that change how a run is driven but not one compiled function.
_RUN_ONLY = {"seed": None, "normal_class": None, "data": ("source_dir",),
             "train": ("log_every", "eval_every", "checkpoint_every", "max_to_keep", "loop")}


def compile_key(config: ml_collections.ConfigDict) -> str:
  """The config as JSON without the fields that only drive the run (seed, logging, paths)."""
  c = json.loads(config.to_json(sort_keys=True))
  for block, fields in _RUN_ONLY.items():
    if fields is None:
      c.pop(block, None)
    elif isinstance(c.get(block), dict):
      c[block] = {k: v for k, v in c[block].items() if k not in fields}
  return json.dumps(c, sort_keys=True)


def parts(objective: Objective, config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  """The objective's parts for `config`, built once per (objective, compile key, spec) in a process.

  With `config.dtype` bfloat16 the states `init` returns compute in it (train/precision.py); the
  wrapped apply functions are made once here too, so they keep their identity between runs.
  """
  objective.check(config)
  dtype = config.get("dtype", "float32")
  precision.check(dtype)
  key = ("parts", objective.family, objective.name, compile_key(config), spec)
  # a copy: the parts outlive this call, and the caller may change its config afterwards
  return compiled.once(key, lambda: _built(objective, config.copy_and_resolve_references(), spec, dtype))


def _built(objective: Objective, config: ml_collections.ConfigDict, spec: InputSpec, dtype: str) -> Parts:
  built = objective.build(config, spec)
  if built.encode is not None:  # stored uint8 images are scaled inside the jit, as in training
    encode = built.encode
    built = dataclasses.replace(built, encode=jax.jit(lambda state, x: encode(state, to_model(x))))
  if dtype != "float32":
    wrappers = {}  # one wrapper per apply function, for every run of these parts
    init = built.init
    built = dataclasses.replace(built, init=lambda rng: precision.compute_in(init(rng), dtype, wrappers))
  return built


def build(family: str, name: str, config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  """`parts(get(family, name), config, spec)`."""
  return parts(get(family, name), config, spec)


def task(parts: Parts, eval_x=None, **fields) -> loop.Task:
  """The loop's view of an objective's parts: batches scaled by the data layer's `model_inputs`,
  and as evaluation the parts' own on `eval_x` (inputs as the model takes them), or none.
  `fields` replace any other Task field (a wrapped init, a recipe's evaluate, the metrics shown)."""
  def evaluate(state, rng):
    return {} if eval_x is None else float_scores(parts.evaluate(state, eval_x, rng))
  return loop.Task(**{"init": parts.init, "train_step": parts.train_step, "evaluate": evaluate,
                      "examples_per_step": parts.examples_per_step, "prepare": model_inputs, **fields})


def float_scores(scores: Mapping[str, Any]) -> dict:
  """A dict of device scalars as Python floats (one transfer)."""
  return {k: float(v) for k, v in jax.device_get(dict(scores)).items()}
