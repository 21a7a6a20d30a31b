"""Configs of the fault campaign (jaxunsup/recipes/faults.py).

Variants:
  default  the release campaign: over 100 kills across the five experiment families, then every
           bad input. python experiments/faults.py --workdir=runs/faults (about an hour on 2 cores).
  smoke    three kills of one autoencoder run; the tests run it.
"""

import ml_collections

from jaxunsup.configs import from_variant


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  # smoke commands of experiments/, in this order (the representation study reads the
  # autoencoder's uninterrupted run, so the autoencoder comes first)
  c.families = ("autoencoder", "gan", "pretrain_finetune", "text", "representations")
  c.trials = (12, 6, 4, 4, 4)   # fresh workdirs per family
  c.kills_per_trial = 4         # kills before the run may finish
  c.bad_input = True
  return c


def smoke(c):
  c.families = ("autoencoder",)
  c.trials = (1,)
  c.kills_per_trial = 2
  c.bad_input = False


VARIANTS = {"default": lambda c: None, "smoke": smoke}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
