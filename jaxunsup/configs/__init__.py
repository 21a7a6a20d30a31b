"""Experiment configs as importable data; experiments/configs/ points the launchers here."""

from typing import Callable, Mapping

import ml_collections

from jaxunsup.errors import UsageError


def from_variant(base: Callable[[], ml_collections.ConfigDict], variants: Mapping[str, Callable],
                 variant: str) -> ml_collections.ConfigDict:
  """base() with `variants[variant]` applied; an unknown variant is a UsageError."""
  variant = variant or "default"
  if variant not in variants:
    raise UsageError(f"unknown config variant {variant!r}; choose one of {', '.join(variants)}")
  c = base()
  variants[variant](c)
  return c
