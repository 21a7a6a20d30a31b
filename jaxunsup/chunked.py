"""Applying a jitted function to a large array a slice at a time."""

import jax.numpy as jnp
import numpy as np


def map_in_chunks(fn, x_Nx: np.ndarray, chunk: int = 1000) -> np.ndarray:
  """fn on x[i:i + chunk] for each chunk, results concatenated on the host.

  Whole splits do not fit in one call's activations; equal chunks (bar the last) keep jit to two
  compiled shapes.
  """
  return np.concatenate([np.asarray(fn(jnp.asarray(x_Nx[i:i + chunk])))
                         for i in range(0, len(x_Nx), chunk)])
