"""Experiment configs as importable data; experiments/configs/ points the launchers here."""

import math
import numbers
from typing import Any, Callable, Mapping

import ml_collections

from jaxunsup.errors import UsageError


def shared_fields() -> ml_collections.ConfigDict:
  """The fields every experiment has, so overrides read the same everywhere: seed, data, and
  how a run executes (mesh, dtype)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # pipeline: auto | device | stream, how batches reach the device (train/stream.py); workers:
  # processes reading batches when streaming (0: threads of this process); prefetch: batches ahead;
  # test_examples: score on the first N test images only (0: the whole split), for quick runs.
  c.data = ml_collections.ConfigDict({"name": "mnist", "source_dir": "", "pipeline": "auto",
                                      "workers": 0, "prefetch": 2, "test_examples": 0})
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


# Fields whose numbers may leave the sign of their default: -1 takes every device.
SIGNED_FIELDS = ("mesh.data", "mesh.fsdp")


def _number_error(name: str, value: Any, reference: Any, zero_allowed: tuple = ()) -> str | None:
  if isinstance(reference, bool):
    return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"
  if not isinstance(reference, numbers.Real):
    return None
  whole = isinstance(reference, int)
  if isinstance(value, bool) or not isinstance(value, int if whole else numbers.Real):
    return f"{name} must be {'a whole number' if whole else 'a number'}, got {value!r}"
  if not math.isfinite(value):
    return f"{name} must be finite, got {value!r}"
  if name in SIGNED_FIELDS:
    return None
  if reference > 0 and value <= 0 and name not in zero_allowed:
    return f"{name} must be positive, got {value!r}"
  if reference >= 0 and value < 0:
    return f"{name} must not be negative, got {value!r}"
  return None


def _weakest(values: list) -> Any:
  """The loosest reference among the variants' values of one field: the smallest number."""
  numbers_ = [v for v in values if isinstance(v, numbers.Real) and not isinstance(v, bool)]
  return min(numbers_) if numbers_ else values[0]


def _check_field(name: str, value: Any, refs: list, zero_allowed: tuple) -> None:
  if isinstance(refs[0], ml_collections.ConfigDict):
    if isinstance(value, ml_collections.ConfigDict):
      for key in refs[0]:
        if key in value:
          _check_field(f"{name}.{key}", value[key], [r[key] for r in refs if key in r], zero_allowed)
    return
  if isinstance(refs[0], (tuple, list)):
    items = [item for r in refs if isinstance(r, (tuple, list)) for item in r]
    if not items or not isinstance(value, (tuple, list)):
      return
    for item in value:
      error = _number_error(name, item, _weakest(items), zero_allowed)
      if error:
        raise UsageError(error.replace(f"{name} must", f"each of {name} must"))
    return
  error = _number_error(name, value, _weakest(refs), zero_allowed)
  if error:
    raise UsageError(error)


def check_values(config: ml_collections.ConfigDict, family: Any) -> None:
  """UsageError for the first field of `config` whose value leaves the kind its family's variants
  give it: booleans stay booleans and numbers numbers (True is not 1), whole numbers stay whole,
  numbers stay finite, and a number no variant sets to zero or below stays positive (none sets
  below zero: stays non-negative). Tuples of numbers are held to the same rule item by item.
  `family` is the config module: its `base`, `VARIANTS`, and optionally `ZERO_ALLOWED`, the fields
  where 0 means something though no variant uses it."""
  references = [from_variant(family.base, family.VARIANTS, v) for v in family.VARIANTS]
  zero_allowed = tuple(getattr(family, "ZERO_ALLOWED", ()))
  for key in references[0]:
    if key in config:
      _check_field(key, config[key], [r[key] for r in references if key in r], zero_allowed)
