"""Experiment configs as importable data; experiments/configs/ points the launchers here."""

from typing import Callable, Mapping

import ml_collections

from jaxunsup.errors import UsageError


def shared_fields() -> ml_collections.ConfigDict:
  """The fields every experiment has, so overrides read the same everywhere: seed, data, and
  how a run executes (mesh, dtype)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = ml_collections.ConfigDict({"name": "mnist", "source_dir": ""})
  # Data-parallel SPMD (train/parallel.py): batches split over data x fsdp devices, params
  # sharded over fsdp; data = -1 takes every device. --config.mesh.data=-1 on a multi-GPU host.
  c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": 1})
  # float32 | bfloat16: the networks' compute dtype; params and optimizer state stay float32
  c.dtype = "float32"
  return c


RUNTIME_FIELDS = ("mesh", "dtype")


def copy_runtime_fields(src: ml_collections.ConfigDict, dst) -> None:
  """Gives a phase's config (a pretraining run, a fine-tuned cell) how the experiment runs:
  its mesh and compute dtype."""
  for name in RUNTIME_FIELDS:
    value = src[name]
    dst[name] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value


def from_variant(base: Callable[[], ml_collections.ConfigDict], variants: Mapping[str, Callable],
                 variant: str) -> ml_collections.ConfigDict:
  """base() with `variants[variant]` applied; an unknown variant is a UsageError."""
  variant = variant or "default"
  if variant not in variants:
    raise UsageError(f"unknown config variant {variant!r}; choose one of {', '.join(variants)}")
  c = base()
  variants[variant](c)
  return c
