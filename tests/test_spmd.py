"""Data-parallel SPMD: 8 simulated CPU devices give the 1-device results, two processes give one
process's, and mesh errors are one line."""

import json
import os
import socket
import subprocess
import sys

import ml_collections
import pytest

from conftest import run_script, xla_env
from jaxunsup.errors import UsageError
from jaxunsup.train import parallel
from jaxunsup.train.metrics_writer import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory):
  # The device count is fixed when jax starts, so the 8-device runs happen in their own process.
  env = xla_env(devices=8)
  root = tmp_path_factory.mktemp("spmd")
  proc = subprocess.run([sys.executable, os.path.join(HERE, "spmd_check.py"), str(root)],
                        capture_output=True, text=True, env=env, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eight_devices_are_seen(eight_devices):
  assert eight_devices["devices"] == 8


@pytest.mark.parametrize("family,tolerance", [("autoencoder", 1e-5), ("simclr", 1e-5), ("gan", 2e-4),
                                              ("autoencoder_fsdp", 1e-5)])
def test_eight_devices_match_one(eight_devices, family, tolerance):
  # Same batches, keys and updates; only the order of the gradient sums differs.
  assert eight_devices[family]["max_param_diff"] < tolerance


def test_fsdp_shards_params(eight_devices):
  fsdp = eight_devices["autoencoder_fsdp"]
  assert 0 < fsdp["sharded_leaves"] <= fsdp["leaves"]


def test_resume_on_a_mesh_is_exact(eight_devices):
  assert eight_devices["resume_max_diff"] == 0.0


def test_batch_not_divisible_by_devices_is_refused(eight_devices):
  assert "not divisible by the 8 devices" in eight_devices["odd_batch_error"]


def test_mesh_larger_than_the_devices_is_refused():
  with pytest.raises(UsageError, match="needs 16 devices but 1 are present"):
    parallel.make_mesh(ml_collections.ConfigDict({"data": 16, "fsdp": 1}))
  with pytest.raises(UsageError, match="mesh.data must be positive or -1"):
    parallel.make_mesh(ml_collections.ConfigDict({"data": 0, "fsdp": 1}))


def test_one_device_mesh_takes_every_device_with_minus_one():
  mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": -1, "fsdp": 1}))
  assert mesh.size == 1 and parallel.is_single(mesh)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _summary(workdir):
  with open(os.path.join(workdir, "summary.json")) as f:
    return {k: v for k, v in json.load(f).items() if k != "train_seconds"}


def test_two_processes_run_as_one_host_with_two_devices(tmp_path):
  # The multi-host path on one machine: two processes of one CPU device each, joined by
  # jax.distributed (gloo), against one process with two devices (data on the device); both write
  # one shared workdir. Streaming, each process reads only its half of every batch. Both
  # pipelines give the single process's run.
  script = os.path.join(os.path.dirname(HERE), "experiments", "autoencoder.py")
  config = os.path.join(os.path.dirname(HERE), "experiments", "configs", "autoencoder.py")
  # half the smoke run (two checkpoints, two evaluations): five processes run it
  common = [sys.executable, script, f"--config={config}:smoke", "--config.mesh.data=-1", "--config.train.steps=20",
            "--config.train.checkpoint_every=10", "--config.train.eval_every=10", "--config.train.log_every=10",
            "--config.data.test_examples=500"]
  single = subprocess.run(common + [f"--workdir={tmp_path / 'single'}"], capture_output=True, text=True,
                          timeout=300, env=xla_env(devices=2))
  assert single.returncode == 0, single.stderr[-2000:]
  rows = lambda d: [{k: v for k, v in r.items() if k != "train/seconds"} for r in read_metrics(str(tmp_path / d))]
  for pipeline in ("device", "stream"):
    port = _free_port()
    workdir = tmp_path / pipeline
    procs = [subprocess.Popen(common + [f"--workdir={workdir}", f"--coordinator_address=localhost:{port}",
                                        "--num_processes=2", f"--process_id={i}", f"--config.data.pipeline={pipeline}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=xla_env())
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert _summary(workdir) == _summary(tmp_path / "single"), pipeline
    assert rows(pipeline) == rows("single"), pipeline  # process 0 alone writes: no duplicated rows


def test_distributed_flags_go_together():
  # refused before jax.distributed starts, so this process can run it
  script = os.path.join(os.path.dirname(HERE), "experiments", "autoencoder.py")
  config = os.path.join(os.path.dirname(HERE), "experiments", "configs", "autoencoder.py")
  proc = run_script(script, f"--config={config}:smoke", "--workdir=/nonexistent/x", "--num_processes=2")
  assert proc.returncode == 2 and "go together" in proc.stderr
