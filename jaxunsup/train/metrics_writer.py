"""Metrics to metrics.jsonl and TensorBoard event files (tensorboardX, no TensorFlow)."""

import json
import os
from typing import Mapping

from tensorboardX import SummaryWriter

from jaxunsup.train import workdir as workdir_lib

METRICS_FILE = "metrics.jsonl"


def read_metrics(workdir: str) -> list:
  """All rows of a workdir's metrics.jsonl (each a dict with a `step`)."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class MetricWriter:
  """Appends scalar rows; on resume, first drops rows logged after the restored step."""

  def __init__(self, workdir: str, resume_step: int):
    self._path = os.path.join(workdir, METRICS_FILE)
    self._tb = None
    if not workdir_lib.is_primary():
      return
    kept = [r for r in read_metrics(workdir) if r["step"] <= resume_step]
    with open(self._path, "w") as f:
      f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in kept)
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=resume_step + 1 if resume_step else None)

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    """Logs one row of scalars at `step`."""
    if self._tb is None:
      return
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    with open(self._path, "a") as f:
      f.write(json.dumps(row, sort_keys=True) + "\n")
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
