"""The workdir contract: one config per workdir, checked before anything is written."""

import json
import os
from typing import Any

import ml_collections

from jaxunsup.errors import UsageError
from jaxunsup.train import files

CONFIG_FILE = "config.json"


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


def start(config: ml_collections.ConfigDict, workdir: str) -> None:
  """For a run of several phases (a sweep, a study): checks `workdir` against `config` and writes
  its config.json. Call it holding `files.workdir_lock(workdir)`."""
  if not check_config(config, workdir, has_checkpoint=False):
    files.write_json(os.path.join(workdir, CONFIG_FILE), config_to_json(config))
