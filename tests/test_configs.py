"""Config values: every shipped variant passes the value rules; values out of kind are refused."""

import importlib

import pytest

from jaxunsup import configs
from jaxunsup.errors import UsageError

FAMILIES = ("autoencoder", "benchmark", "gan", "pretrain_finetune", "representations", "text_pretrain_finetune")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_variant_passes(family):
  module = importlib.import_module(f"jaxunsup.configs.{family}")
  for variant in module.VARIANTS:
    configs.check_values(module.get_config(variant), module)


@pytest.mark.parametrize("field,value,message", [
    ("model.latent_dim", -3, "model.latent_dim must be positive, got -3"),
    ("train.steps", True, "train.steps must be a whole number, got True"),
    ("train.steps", 2.5, "whole number"),
    ("train.learning_rate", float("nan"), "must be finite"),
    ("train.learning_rate", 0.0, "train.learning_rate must be positive"),
    ("seed", -1, "seed must not be negative"),
    ("model.hidden", (64, -2), "each of model.hidden must be positive, got -2"),
])
def test_values_out_of_kind_are_refused(field, value, message):
  module = importlib.import_module("jaxunsup.configs.autoencoder")
  config = module.get_config("smoke")
  block, name = field.rsplit(".", 1) if "." in field else (None, field)
  target = config[block] if block else config
  with target.ignore_type():
    target[name] = value
  with pytest.raises(UsageError, match=message):
    configs.check_values(config, module)


def test_signed_fields_and_off_switches_pass():
  module = importlib.import_module("jaxunsup.configs.pretrain_finetune")
  config = module.get_config("smoke")
  config.mesh.data = -1  # every device
  config.augment.cutout = 0  # off, as the cifar10 variant has it
  configs.check_values(config, module)


def test_a_family_names_the_fields_where_zero_means_something():
  module = importlib.import_module("jaxunsup.configs.benchmark")
  config = module.get_config("smoke")
  config.warmup = 0  # no untimed window, though no variant uses it
  configs.check_values(config, module)
  config.warmup = -1
  with pytest.raises(UsageError, match="warmup must not be negative"):
    configs.check_values(config, module)
  config.warmup, config.window = 1, 0
  with pytest.raises(UsageError, match="window must be positive"):
    configs.check_values(config, module)
