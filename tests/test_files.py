"""Crash-safe writes and locks: whole files or none, refusals in one line, no stale locks."""

import errno
import fcntl
import json
import os

import numpy as np
import pytest

from jaxunsup.errors import UsageError
from jaxunsup.train import files
from jaxunsup.train.metrics_writer import MetricWriter, read_metrics


def test_writes_replace_whole_files_and_leave_no_temporaries(tmp_path):
  path = tmp_path / "deep" / "a.json"
  files.write_json(str(path), {"b": 1, "a": [1, 2]})
  files.write_json(str(path), {"c": 3})
  assert json.loads(path.read_text()) == {"c": 3}
  files.save_npy(str(tmp_path / "x.npy"), np.arange(5, dtype=np.uint8))
  np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), np.arange(5))
  assert sorted(os.listdir(tmp_path)) == ["deep", "x.npy"] and os.listdir(path.parent) == ["a.json"]


def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path, monkeypatch):
  path = tmp_path / "summary.json"
  files.write_json(str(path), {"old": True})

  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "replace", full)
  with pytest.raises(UsageError, match="summary.json: the disk is full"):
    files.write_json(str(path), {"new": True})
  assert json.loads(path.read_text()) == {"old": True} and os.listdir(tmp_path) == ["summary.json"]


def test_folders_that_cannot_be_made_are_one_line(tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UsageError, match="it exists and is not a folder"):
    files.make_dirs(str(tmp_path / "file"))
  with pytest.raises(UsageError, match="a part of the path is a file"):
    files.make_dirs(str(tmp_path / "file" / "run"))


def test_a_held_workdir_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
  workdir = tmp_path / "run"
  workdir.mkdir()
  other = os.open(workdir / files.LOCK_FILE, os.O_RDWR | os.O_CREAT)  # another live process's lock
  fcntl.flock(other, fcntl.LOCK_EX)
  with pytest.raises(UsageError, match="is in use by another run"):
    with files.workdir_lock(str(workdir)):
      pass
  os.close(other)  # that process dies: the kernel drops its lock
  with files.workdir_lock(str(workdir)):
    with files.workdir_lock(str(workdir)):  # re-entrant: a recipe and the loop it calls
      (workdir / "summary.json").write_text("{}")
  assert sorted(os.listdir(workdir)) == [files.LOCK_FILE, "summary.json"]


def test_a_workdir_the_lock_made_is_removed_when_nothing_was_written(tmp_path):
  with pytest.raises(UsageError):
    with files.workdir_lock(str(tmp_path / "fresh")):
      os.makedirs(tmp_path / "fresh" / "checkpoints")
      raise UsageError("bad input found late")
  assert not os.path.exists(tmp_path / "fresh")


def test_a_torn_last_metrics_row_is_dropped_and_rewritten_on_resume(tmp_path):
  writer = MetricWriter(str(tmp_path), 0)
  for step in (10, 20, 30):
    writer.write(step, {"train/loss": 1.0 / step})
  writer.close()
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 40, "train/lo')  # killed mid-append
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [10, 20, 30]
  MetricWriter(str(tmp_path), 20).close()  # resumed from the step-20 checkpoint
  assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2
  with open(tmp_path / "metrics.jsonl", "r+") as f:
    f.write("garbage")
  with pytest.raises(UsageError, match="line 1 is not a metrics row"):
    read_metrics(str(tmp_path))
