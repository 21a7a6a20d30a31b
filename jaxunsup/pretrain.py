"""The pretraining phase: train an encoder on unlabelled inputs, one objective per run.

Each objective is a registered record of the `pretrain` family (images) or `text_pretrain` family
(token ids); its `phase_config` turns the experiment's config into the complete config of its
run, which the run's workdir stores. `load_encoder(workdir)` reads the encoder out of any of them.
"""

import os

import ml_collections
import numpy as np

from jaxunsup import trained
from jaxunsup.errors import UsageError
from jaxunsup.objectives import registry
from jaxunsup.train import loop

NONE = "none"  # the from-scratch baseline: no pretraining phase


def check_objective(objective: str, family: str = "pretrain") -> None:
  """UsageError unless `objective` is `none` or registered in `family`."""
  if objective != NONE and objective not in registry.names(family):
    raise UsageError(f"unknown pretraining objective {objective!r}; choose one of "
                     f"{', '.join((NONE,) + registry.names(family))}")


def phase_config(config: ml_collections.ConfigDict, objective: str, family: str = "pretrain",
                 **context) -> ml_collections.ConfigDict:
  """The complete config of one objective's pretraining run, as its workdir stores it (`context`:
  what a family's runs also record, such as the text runs' tokenizer)."""
  check_objective(objective, family)
  if objective == NONE:
    raise UsageError("objective 'none' has no pretraining phase")
  record = registry.get(family, objective)
  phase = record.phase_config(config, **context)
  record.check(phase)
  return phase


def make_task(phase: ml_collections.ConfigDict, spec, eval_x: np.ndarray, family: str = "pretrain") -> loop.Task:
  """The loop's view of one pretraining run (`phase`: a `phase_config`); `eval_x` are inputs as
  the model takes them (images in [0, 1], or token ids) for the periodic evaluation."""
  parts = registry.build(family, phase.objective, phase, spec)
  return registry.task(parts, eval_x)


def run(phase: ml_collections.ConfigDict, workdir: str, unlabelled, eval_x: np.ndarray, spec,
        family: str = "pretrain") -> loop.LoopResult:
  """Pretrains with the objective of `phase` in `workdir` (resuming if possible) on `unlabelled`:
  the inputs as an array, or a reader of them alone (`SplitReader.only`)."""
  data = {spec.key: unlabelled} if isinstance(unlabelled, np.ndarray) else unlabelled
  return loop.train(phase, workdir, make_task(phase, spec, eval_x, family), data)


def read_phase_config(workdir: str, family: str = "pretrain") -> ml_collections.ConfigDict:
  """The config.json of a pretraining workdir of `family`; UsageError if it is not one."""
  kind = "text " if family == "text_pretrain" else ""
  if not os.path.exists(os.path.join(workdir, "config.json")):
    raise UsageError(f"init_from {workdir} has no config.json; is it a {kind}pretraining workdir?")
  config = trained.read_config(workdir)
  if config.get("objective") not in registry.names(family) or ("tokenizer" in config) != (family == "text_pretrain"):
    raise UsageError(f"init_from {workdir} is not a {kind}pretraining workdir (no known objective in its config)")
  return config


def load_encoder(workdir: str, family: str = "pretrain") -> tuple:
  """(phase config, encoder module, encoder params) from a pretraining workdir's latest checkpoint."""
  phase = read_phase_config(workdir, family)
  model = trained.load(workdir)
  return phase, model.parts.modules["encoder"], model.parts.encoder_params(model.state)
