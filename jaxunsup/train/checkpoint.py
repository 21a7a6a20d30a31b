"""Orbax checkpoints of the whole loop state: train state, PRNG key, step, elapsed time."""

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from jaxunsup.errors import UsageError
from jaxunsup.train import files

CHECKPOINT_DIR = "checkpoints"


@contextlib.contextmanager
def _orbax_quiet():
  """Orbax logs an ERROR line for each damaged file it meets; restore_latest reports the damage
  itself, in the one line of a UsageError."""
  before = logging.get_verbosity()
  logging.set_verbosity(logging.FATAL)
  try:
    yield
  finally:
    logging.set_verbosity(before)


@contextlib.contextmanager
def _quiet_if_failed():
  """Holds back what is written to stderr (file descriptor 2) inside and passes it on, unless the
  block fails: a failed save (a full disk) makes orbax's and tensorstore's threads print a dozen
  tracebacks, during the save and after it until the process ends, which the save's own error,
  reported in one line, says all of. After a failure, descriptor 2 stays silenced and
  `sys.stderr` writes to the real stderr, so that one line is all the user sees."""
  sys.stderr.flush()
  real = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      with _orbax_quiet():
        yield
    except BaseException:
      devnull = os.open(os.devnull, os.O_WRONLY)
      os.dup2(devnull, 2)
      os.close(devnull)
      sys.stderr = os.fdopen(real, "w", buffering=1)
      raise
    sys.stderr.flush()
    os.dup2(real, 2)
    os.close(real)
    held.seek(0)
    sys.stderr.write(held.read().decode(errors="replace"))


def _check_space(directory: str, item: dict) -> None:
  """UsageError before a save that cannot fit on the disk (orbax would fail half-way)."""
  needed = sum(getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(item))  # no copy off the device
  free = shutil.disk_usage(directory).free
  if free < needed * 1.2 + (1 << 20):
    full = OSError(errno.ENOSPC, "No space left on device")
    raise UsageError(files.explain(full, directory) + f" (a checkpoint needs about {needed >> 10} KiB, "
                     f"{free >> 10} KiB are free)")


def manager(workdir: str, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """A synchronous manager: a save is on disk before training goes on, so SIGKILL is safe."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                         enable_async_checkpointing=False)
  with _orbax_quiet():
    return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR)),
                                 options=options)


def pack(state: Any, rng: jax.Array, step: int, train_seconds: float) -> dict:
  """The checkpointed pytree; the typed key is stored as its raw uint32 data (host numpy: orbax
  refuses a process-local jax.Array in a multi-host run)."""
  return {"state": state, "rng": np.asarray(jax.random.key_data(rng)), "step": np.asarray(step, np.int64),
          "train_seconds": np.asarray(train_seconds, np.float64)}


def _host_copy(leaf: Any) -> Any:
  """A jax.Array this process holds whole, as host numpy: orbax copies a device array to the host
  slice by slice, one small compiled op each (seconds a save on a simulated 8-device mesh). Arrays
  spread over processes stay as they are: orbax writes each process's part."""
  if isinstance(leaf, jax.Array) and leaf.is_fully_addressable and not jax.dtypes.issubdtype(
      leaf.dtype, jax.dtypes.prng_key):
    return np.asarray(leaf)
  return leaf


def save(mngr: ocp.CheckpointManager, step: int, item: dict) -> None:
  """Saves `item` at `step` unless that step is already on disk."""
  if step not in mngr.all_steps():
    _check_space(os.fspath(mngr.directory), item)
    item = jax.tree.map(_host_copy, item)
    try:
      with _quiet_if_failed():
        mngr.save(step, args=ocp.args.StandardSave(item))
        mngr.wait_until_finished()
    except OSError as e:  # a full disk or a folder made read-only under the run
      raise UsageError(files.explain(e, os.fspath(mngr.directory))) from None
    except ValueError as e:  # tensorstore reports a full disk as RESOURCE_EXHAUSTED
      if "RESOURCE_EXHAUSTED" not in str(e):
        raise
      full = OSError(errno.ENOSPC, "No space left on device")
      raise UsageError(files.explain(full, os.fspath(mngr.directory))) from None


def restore_latest(mngr: ocp.CheckpointManager, template: dict) -> Optional[dict]:
  """Restores the newest checkpoint into the structure of `template`, or None if there is none."""
  step = mngr.latest_step()
  if step is None:
    return None
  try:
    with _orbax_quiet():
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


def open_trial(trial_dir: str, state: Any, rng: jax.Array) -> tuple:
  """For a resumable trial outside the loop (DEC, Deep SVDD): its manager (one checkpoint kept),
  and the state and train seconds of its latest checkpoint, or `state` and 0 for a fresh one."""
  mngr = manager(trial_dir, max_to_keep=1)
  restored = restore_latest(mngr, pack(state, rng, 0, 0.0))
  if restored is None:
    return mngr, state, 0.0
  return mngr, restored["state"], float(restored["train_seconds"])


def remove_trial(trial_dir: str) -> None:
  """A finished trial's checkpoints are not needed once its result is written."""
  if files.is_primary() and os.path.isdir(trial_dir):
    shutil.rmtree(trial_dir)
