"""Mixed precision by config (`dtype`): networks compute in bfloat16 while params, optimizer state
and losses stay float32.

Every network of a train state is called through its TrainState's `apply_fn`; wrapping that one
function casts params and inputs down and outputs back up, so no model or objective changes and
the gradients reach the float32 params through the casts.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax.training import train_state

from jaxunsup.errors import UsageError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def check(dtype: str) -> None:
  if dtype not in DTYPES:
    raise UsageError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")


def _cast(tree: Any, dtype) -> Any:
  def one(x):
    if isinstance(x, jax.Array | jnp.ndarray) and jnp.issubdtype(x.dtype, jnp.floating):
      return x.astype(dtype)
    return x
  return jax.tree.map(one, tree)


def _in_dtype(apply_fn: Callable, dtype_name: str) -> Callable:
  dtype = DTYPES[dtype_name]

  def apply(variables, *args, **kwargs):
    out = apply_fn(_cast(variables, dtype), *_cast(args, dtype), **kwargs)
    return _cast(out, jnp.float32)

  return apply


def compute_in(state: Any, dtype: str, wrappers: dict) -> Any:
  """`state` with every TrainState's networks computing in `dtype` ("float32" leaves it as is).

  `wrappers` maps an apply function to its wrapper and is filled here: pass the same dict for
  every state of one config, since jit keys its caches on the state's static fields.
  """
  check(dtype)
  if dtype == "float32":
    return state

  def wrapped(apply_fn):
    if apply_fn not in wrappers:
      wrappers[apply_fn] = _in_dtype(apply_fn, dtype)
    return wrappers[apply_fn]

  def visit(node):
    if isinstance(node, train_state.TrainState):
      return node.replace(apply_fn=wrapped(node.apply_fn))
    if dataclasses.is_dataclass(node) and hasattr(node, "replace"):  # AEState, GANState, ...
      return node.replace(**{f.name: visit(getattr(node, f.name)) for f in dataclasses.fields(node)})
    return node

  return visit(state)
