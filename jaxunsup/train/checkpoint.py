"""Orbax checkpoints of the whole loop state: train state, PRNG key, step, elapsed time."""

import os
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxunsup.errors import UsageError

CHECKPOINT_DIR = "checkpoints"


def manager(workdir: str, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """A synchronous manager: a save is on disk before training goes on, so SIGKILL is safe."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR)),
                               options=options)


def pack(state: Any, rng: jax.Array, step: int, train_seconds: float) -> dict:
  """The checkpointed pytree; the typed key is stored as its raw uint32 data (host numpy: orbax
  refuses a process-local jax.Array in a multi-host run)."""
  return {"state": state, "rng": np.asarray(jax.random.key_data(rng)), "step": np.asarray(step, np.int64),
          "train_seconds": np.asarray(train_seconds, np.float64)}


def save(mngr: ocp.CheckpointManager, step: int, item: dict) -> None:
  """Saves `item` at `step` unless that step is already on disk."""
  if step not in mngr.all_steps():
    mngr.save(step, args=ocp.args.StandardSave(item))
    mngr.wait_until_finished()


def restore_latest(mngr: ocp.CheckpointManager, template: dict) -> Optional[dict]:
  """Restores the newest checkpoint into the structure of `template`, or None if there is none."""
  step = mngr.latest_step()
  if step is None:
    return None
  try:
    restored = mngr.restore(step, args=ocp.args.StandardRestore(template))
  except Exception as e:  # orbax raises many types for truncated or foreign files
    msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    raise UsageError(f"checkpoint {step} in {mngr.directory} cannot be restored ({msg}); "
                     "it is corrupt or from another model: move it away or use a new --workdir") from None
  for name in ("rng", "step"):
    if np.shape(restored[name]) != np.shape(template[name]):
      raise UsageError(f"checkpoint {step} in {mngr.directory} does not match this config; "
                       "use a new --workdir")
  return restored
