"""The run config of any registered objective, as its family's experiment config makes it.

What the benchmark times and the registry tests build: one entry per family, none per objective,
so an objective registered in a family gets its config here without an edit.
"""

import ml_collections

from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.configs import gan as gan_configs
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.configs import text_pretrain_finetune as text_configs

IMAGE_FAMILIES = ("autoencoder", "gan", "pretrain")


def run_config(family: str, name: str, variant: str = "default", **context) -> ml_collections.ConfigDict:
  """The config a run of objective `name` of `family` stores, from its experiment's `variant`
  (a GAN's `default` is its own named variant where it has one). `context`: what the family's
  pretraining configs record besides, such as a text run's `tokenizer`."""
  # pylint: disable=import-outside-toplevel  (the registry imports these configs)
  from jaxunsup import finetune, pretrain
  if family == "autoencoder":
    c = ae_configs.get_config(variant)
    c.model.name = name
    return c
  if family == "gan":
    c = gan_configs.get_config(name if variant == "default" and name in gan_configs.VARIANTS else variant)
    c.model.name = name
    return c
  if family == "pretrain":
    return pretrain.phase_config(pf_configs.get_config(variant), name)
  if family == "text_pretrain":
    return pretrain.phase_config(text_configs.get_config(variant), name, family, **context)
  if family == "classifier":
    return finetune.cell_config(pf_configs.get_config(variant), name, context.get("labelled_examples", 100), 0)
  raise ValueError(f"no experiment config for the {family} family")
