"""Applying a jitted function to a large array a slice at a time."""

import jax.numpy as jnp
import numpy as np


def map_in_chunks(fn, x_Nx: np.ndarray, chunk: int = 1000) -> np.ndarray:
  """fn on x[i:i + chunk] for each chunk, results concatenated on the host.

  Whole splits do not fit in one call's activations. Beyond one chunk the last is padded to full
  size, so every array longer than `chunk` runs through a single compiled shape (one-class models
  encode ten splits of different lengths); `fn` must treat examples independently.
  """
  n = len(x_Nx)
  if n <= chunk:
    return np.asarray(fn(jnp.asarray(x_Nx)))
  outs = []
  for i in range(0, n, chunk):
    part = x_Nx[i:i + chunk]
    pad = chunk - len(part)
    if pad:
      part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
    outs.append(np.asarray(fn(jnp.asarray(part)))[:chunk - pad])
  return np.concatenate(outs)
