"""Metrics to metrics.jsonl and TensorBoard event files (tensorboardX, no TensorFlow)."""

import json
import os
from typing import Mapping

from tensorboardX import SummaryWriter

from jaxunsup.errors import UsageError
from jaxunsup.train import files

METRICS_FILE = "metrics.jsonl"


def read_metrics(workdir: str) -> list:
  """All rows of a workdir's metrics.jsonl (each a dict with a `step`).

  A last line without its newline is a row torn by a kill while it was appended: it is dropped
  (the resumed run writes it again). A bad line before it means the file was damaged otherwise.
  """
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path, "rb") as f:
    lines = f.read().split(b"\n")
  lines.pop()  # after the last newline: empty, or the torn row
  rows = []
  for number, line in enumerate(lines, 1):
    try:
      rows.append(json.loads(line))
    except ValueError:
      raise UsageError(f"{path} line {number} is not a metrics row; the file was damaged: "
                       "move it away to start its log afresh") from None
  return rows


class MetricWriter:
  """Appends scalar rows; on resume, first drops rows logged after the restored step."""

  def __init__(self, workdir: str, resume_step: int):
    self._path = os.path.join(workdir, METRICS_FILE)
    self._tb = None
    if not files.is_primary():
      return
    kept = [r for r in read_metrics(workdir) if r["step"] <= resume_step]
    files.write_text(self._path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=resume_step + 1 if resume_step else None)

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    """Logs one row of scalars at `step` (one write of one line: a kill tears at most this row)."""
    if self._tb is None:
      return
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    try:
      with open(self._path, "a") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
    except OSError as e:
      raise UsageError(files.explain(e, self._path)) from None
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
