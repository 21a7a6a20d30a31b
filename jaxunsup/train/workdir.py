"""The workdir contract: one config per workdir, checked before anything is written."""

import json
import os
from typing import Any, Optional

import ml_collections

from jaxunsup.errors import UsageError
from jaxunsup.train import files

CONFIG_FILE = "config.json"


def config_to_json(config: ml_collections.ConfigDict) -> dict:
  """The config as plain JSON data (tuples become lists), as written to config.json."""
  return json.loads(config.to_json(sort_keys=True))


_MISSING = "<missing>"
# How batches reach the device: both pipelines train the same steps on the same batches, so a run
# may resume under another one, and runs older than these fields match whatever they say.
EXECUTION_ONLY = {"data": ("pipeline", "workers", "prefetch")}


# Fields added to the shared or family configs after runs were made, at the values those runs
# behaved by: a config.json older than a field reads as if it held this value (when the current
# config has the field), so adding a field does not strand every earlier workdir.
ADDED_FIELDS = {"data": {"test_examples": 0}, "model": {"init": "lecun", "codes": 10, "continuous_codes": 0},
                "train": {"info_weight": 1.0}}


def _with_added_fields(saved: dict, current: dict) -> dict:
  out = dict(saved)
  for block, fields in ADDED_FIELDS.items():
    if isinstance(out.get(block), dict) and isinstance(current.get(block), dict):
      out[block] = {**{k: v for k, v in fields.items() if k in current[block]}, **out[block]}
  return out


def _without_execution_fields(config: dict) -> dict:
  out = dict(config)
  for block, names in EXECUTION_ONLY.items():
    if isinstance(out.get(block), dict):
      out[block] = {k: v for k, v in out[block].items() if k not in names}
  return out


def _differences(a: Any, b: Any, prefix: str = "", defaults: Any = _MISSING) -> list:
  """Where config `a` and the saved config `b` differ. A field `b` lacks (the run predates it) is
  no difference while `a` holds its default: the run was made with the behaviour it stands for."""
  if b == _MISSING and defaults != _MISSING and a == defaults:
    return []
  if isinstance(a, dict) and isinstance(b, dict):
    out = []
    for key in sorted(set(a) | set(b)):
      default = defaults.get(key, _MISSING) if isinstance(defaults, dict) else _MISSING
      out += _differences(a.get(key, _MISSING), b.get(key, _MISSING), f"{prefix}{key}.", default)
    return out
  return [] if a == b else [f"{prefix[:-1]}: {b!r} in workdir, {a!r} now"]


def check_config(config: ml_collections.ConfigDict, workdir: str, has_checkpoint: bool,
                 defaults: Optional[ml_collections.ConfigDict] = None) -> bool:
  """Raises UsageError if `workdir` holds a run of another config; True if config.json exists.
  With `defaults` (the family's base config), fields added to the family after the run was
  started are accepted at their default values."""
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
  current = config_to_json(config)
  saved = _with_added_fields(saved, current)
  diffs = _differences(_without_execution_fields(current), _without_execution_fields(saved), "",
                       config_to_json(defaults) if defaults is not None else _MISSING)
  if diffs:
    shown = "; ".join(diffs[:3]) + (" ..." if len(diffs) > 3 else "")
    raise UsageError(f"{workdir} holds a run of a different config ({shown}); "
                     "use a new --workdir or the config it was started with")
  return True


def start(config: ml_collections.ConfigDict, workdir: str,
          defaults: Optional[ml_collections.ConfigDict] = None) -> None:
  """For a run of several phases (a sweep, a study): checks `workdir` against `config` (fields
  newer than the run accepted at their `defaults`) and writes its config.json, complete. Call it
  holding `files.workdir_lock(workdir)`."""
  check_config(config, workdir, has_checkpoint=False, defaults=defaults)
  files.write_json(os.path.join(workdir, CONFIG_FILE), config_to_json(config))
