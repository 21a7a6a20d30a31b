"""The workdir contract: one config per workdir, checked before anything is written."""

import json
import os
from typing import Any

import jax
import ml_collections

from jaxunsup.errors import UsageError

CONFIG_FILE = "config.json"


def is_primary() -> bool:
  """Whether this process writes the workdir's files: in a multi-host run every process computes
  the same results and process 0 alone writes them (orbax coordinates the checkpoints itself)."""
  return jax.process_index() == 0


def config_to_json(config: ml_collections.ConfigDict) -> dict:
  """The config as plain JSON data (tuples become lists), as written to config.json."""
  return json.loads(config.to_json(sort_keys=True))


def _differences(a: Any, b: Any, prefix: str = "") -> list:
  if isinstance(a, dict) and isinstance(b, dict):
    out = []
    for key in sorted(set(a) | set(b)):
      out += _differences(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{prefix}{key}.")
    return out
  return [] if a == b else [f"{prefix[:-1]}: {b!r} in workdir, {a!r} now"]


def check_config(config: ml_collections.ConfigDict, workdir: str, has_checkpoint: bool) -> bool:
  """Raises UsageError if `workdir` holds a run of another config; True if config.json exists."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    if has_checkpoint:
      raise UsageError(f"{workdir} holds checkpoints but no {CONFIG_FILE}; use a new --workdir")
    return False
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read {path} ({e}); use a new --workdir") from None
  diffs = _differences(config_to_json(config), saved)
  if diffs:
    shown = "; ".join(diffs[:3]) + (" ..." if len(diffs) > 3 else "")
    raise UsageError(f"{workdir} holds a run of a different config ({shown}); "
                     "use a new --workdir or the config it was started with")
  return True


def write_json(path: str, data: Any) -> None:
  """Writes JSON atomically (temp file then rename), so a kill never leaves half a file."""
  if not is_primary():
    return
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    json.dump(data, f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(tmp, path)
