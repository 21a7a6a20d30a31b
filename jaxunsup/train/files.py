"""Every file a run writes goes through here: whole or not at all, by process 0 only, under locks.

A kill at any moment leaves each file either as it was or as it was meant to be: content goes to
a temporary file in the same folder, then `os.replace` swaps it in (atomic on POSIX). Readers of
an append-only file (metrics.jsonl) drop a torn last record instead. Locks are `flock`s, which
the kernel drops when their process dies, so a killed run never leaves a stale lock behind.
"""

import contextlib
import errno
import fcntl
import io
import json
import os
import shutil
import tempfile
from typing import Any, Iterator

import jax
import numpy as np

from jaxunsup.errors import UsageError

LOCK_FILE = ".lock"
TEMP_SUFFIX = ".tmp"  # temporaries are named .NAME.RANDOM.tmp beside the file they become


def is_temporary(name: str) -> bool:
  """Whether a file name is one of write_bytes' temporaries (left behind only by a kill)."""
  return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def is_primary() -> bool:
  """Whether this process writes files: in a multi-host run every process computes the same
  results and process 0 alone writes them (orbax coordinates the checkpoints itself)."""
  return jax.process_index() == 0


def explain(e: OSError, path: str) -> str:
  """One line saying what went wrong writing `path` (or reading it) and what to do."""
  what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
          errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
          errno.EPERM: "permission denied", errno.ENOTDIR: "a part of the path is a file",
          errno.EEXIST: "it exists and is not a folder", errno.EISDIR: "it is a folder",
          errno.ENOENT: "no such file or folder"}
  reason = what.get(e.errno, e.strerror or type(e).__name__)
  return f"cannot use {path}: {reason}; free space, fix the path or choose another one"


def make_dirs(path: str) -> None:
  """Creates folder `path` (and parents) or raises UsageError naming why not."""
  if os.path.isdir(path):
    return
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise UsageError(explain(e, path)) from None


def write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to `path` atomically (temp file, then rename); a no-op on processes other than 0."""
  if not is_primary():
    return
  folder = os.path.dirname(os.path.abspath(path))
  make_dirs(folder)
  fd, tmp = -1, None
  try:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=TEMP_SUFFIX)
    with os.fdopen(fd, "wb") as f:
      fd = -1
      f.write(data)
    os.replace(tmp, path)
    tmp = None
  except OSError as e:
    raise UsageError(explain(e, path)) from None
  finally:
    if fd >= 0:
      os.close(fd)
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)


def write_text(path: str, text: str) -> None:
  """Writes `text` (UTF-8) to `path` atomically."""
  write_bytes(path, text.encode("utf-8"))


def write_json(path: str, data: Any) -> None:
  """Writes `data` as indented, key-sorted JSON to `path` atomically."""
  write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_npy(path: str, array: np.ndarray) -> None:
  """Saves one array in .npy format atomically."""
  buf = io.BytesIO()
  np.save(buf, np.asarray(array))
  write_bytes(path, buf.getvalue())


def save_figure(fig, path: str) -> None:
  """Saves a matplotlib figure as PNG atomically."""
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
  write_bytes(path, buf.getvalue())


# Locks this process holds: path -> (file descriptor, depth), so a recipe and the loop it calls
# can both hold the lock of one workdir (two flocks of one file in one process would conflict).
_held: dict = {}


@contextlib.contextmanager
def lock(path: str, wait: bool, busy: str = "") -> Iterator[None]:
  """Holds an exclusive lock on file `path` (created if missing), re-entrant within a process.

  With `wait`, blocks until the lock is free; otherwise raises UsageError(`busy`) when another
  live process holds it. The file stays, empty, so a run changes nothing by locking a workdir
  twice. Process 0 alone locks in a multi-host run.
  """
  if not is_primary():
    yield
    return
  key = os.path.realpath(path)
  if key in _held:
    fd, depth = _held[key]
    _held[key] = (fd, depth + 1)
  else:
    make_dirs(os.path.dirname(key))
    try:
      fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise UsageError(explain(e, path)) from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
      os.close(fd)
      raise UsageError(f"{busy} (a live process holds {path})") from None
    _held[key] = (fd, 1)
  try:
    yield
  finally:
    fd, depth = _held[key]
    if depth > 1:
      _held[key] = (fd, depth - 1)
    else:
      del _held[key]
      os.close(fd)  # closing the last descriptor releases the flock


@contextlib.contextmanager
def workdir_lock(workdir: str) -> Iterator[None]:
  """Holds the lock of a run's workdir, creating the folder: a second live run on it is refused in
  one line. A folder this call created is removed again if the run wrote nothing into it, so bad
  input found after the lock leaves no trace."""
  created = is_primary() and not os.path.lexists(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  with lock(path, wait=False,
            busy=f"{workdir} is in use by another run; wait for it to finish or use another --workdir"):
    if _held.get(os.path.realpath(path), (None, 0))[1] == 1:
      _remove_temporaries(workdir)  # of a killed run; no live writer can own them now
    try:
      yield
    finally:
      outermost = _held.get(os.path.realpath(path), (None, 1))[1] == 1
      if created and outermost and _only_lock(workdir):
        shutil.rmtree(workdir)


def _remove_temporaries(folder: str) -> None:
  for d, _, names in os.walk(folder):
    for name in names:
      if is_temporary(name):
        os.remove(os.path.join(d, name))


def _only_lock(folder: str) -> bool:
  """Whether `folder` holds no file but its lock (empty subfolders aside)."""
  found = [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names]
  return found == [os.path.join(folder, LOCK_FILE)]
