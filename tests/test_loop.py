"""The shared loop on synthetic data: determinism, exact resume, NaN stop, workdir checks."""

import dataclasses
import fcntl
import functools
import json
import logging
import os

import jax
import ml_collections
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.recipes import autoencoder
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.errors import UsageError
from jaxunsup.train import files, loop, stream
from jaxunsup.train import workdir as workdir_lib
from jaxunsup.train.metrics_writer import read_metrics


def _images(n=256):
  rng = np.random.default_rng(0)
  basis = rng.normal(size=(4, 784))
  x = 1 / (1 + np.exp(-(rng.normal(size=(n, 4)) @ basis)))
  return np.round(x * 255).astype(np.uint8).reshape((n, 28, 28, 1))


def _setup(steps=40, **train):
  config = get_config("smoke")
  config.train.update(steps=steps, **train)
  images = _images()
  task = autoencoder.make_task(config, data.input_spec("mnist"), images[:64].astype(np.float32) / 255)
  return config, task, {"image": images, "label": np.arange(len(images)) % 10}


def _params(result):
  return jax.tree.map(np.asarray, (result.state.encoder.params, result.state.decoder.params))


def _assert_trees_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_same_seed_same_results_and_seed_matters(tmp_path):
  config, task, images = _setup()
  a = loop.train(config, str(tmp_path / "a"), task, images)
  b = loop.train(config, str(tmp_path / "b"), task, images)
  _assert_trees_equal(_params(a), _params(b))
  rows = lambda d: [{k: v for k, v in r.items() if k != "train/seconds"} for r in read_metrics(str(tmp_path / d))]
  assert rows("a") == rows("b")
  config.seed = 1
  c = loop.train(config, str(tmp_path / "c"), task, images)
  assert not np.array_equal(jax.tree.leaves(_params(a))[0], jax.tree.leaves(_params(c))[0])


@pytest.mark.parametrize("mode", ["device", "host", "stream"])
def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path, mode):
  config, task, images = _setup(steps=40, checkpoint_every=20, loop="host" if mode == "stream" else mode)
  config.data.pipeline = "device" if mode != "stream" else "stream"
  full = loop.train(config, str(tmp_path / "full"), task, images)
  # Interrupted run: stop after the step-20 checkpoint, then resume with the same config.
  config.train.steps = 20
  short_dir = str(tmp_path / "resumed")
  loop.train(config, short_dir, task, images)
  with open(os.path.join(short_dir, "config.json")) as f:
    saved = json.load(f)
  saved["train"]["steps"] = 40  # as if the first run had been killed right after step 20
  with open(os.path.join(short_dir, "config.json"), "w") as f:
    json.dump(saved, f)
  config.train.steps = 40
  resumed = loop.train(config, short_dir, task, images)
  assert resumed.resumed_from == 20
  _assert_trees_equal(_params(full), _params(resumed))
  steps = [r["step"] for r in read_metrics(short_dir) if "train/loss" in r]
  assert steps == sorted(set(steps)) and steps[-1] == 40


def test_device_and_host_loops_compute_the_same_steps(tmp_path):
  # Same steps, batches and keys; only XLA's fusion differs, so results agree to float precision.
  config, task, images = _setup(steps=30, loop="device")
  device = loop.train(config, str(tmp_path / "device"), task, images)
  config.train.loop = "host"
  host = loop.train(config, str(tmp_path / "host"), task, images)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), _params(device), _params(host))


def _compiles(name, run) -> int:
  """How many times jit compiles (or fetches from the compile cache) function `name` in run()."""
  records = []
  handler = logging.Handler()
  handler.emit = records.append
  logging.getLogger("jax").addHandler(handler)
  try:
    with jax.log_compiles(True):
      run()
  finally:
    logging.getLogger("jax").removeHandler(handler)
  return sum(r.getMessage().startswith(f"Compiling jit({name})") for r in records)


@pytest.mark.parametrize("pipeline", ["device", "stream"])
def test_a_run_compiles_its_step_once(tmp_path, pipeline):
  # A segment's first step once took uncommitted zero metric sums and every later step committed
  # ones: two compiles of the train step in every run on CPU (the host loop).
  config, task, images = _setup(steps=12, loop="host", log_every=4, eval_every=12, checkpoint_every=12)
  config.data.pipeline = pipeline
  # a step no earlier test compiled
  task = dataclasses.replace(task, train_step=functools.partial(task.train_step))
  assert _compiles("one_step", lambda: loop.train(config, str(tmp_path), task, images)) == 1


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_batches_train_exactly_what_the_device_gathers(tmp_path, workers):
  # 256 examples at batch 64: 4 steps an epoch, so 10 steps cross two epoch boundaries.
  config, task, images = _setup(steps=10, checkpoint_every=10, eval_every=10)
  config.data.pipeline = "device"
  device = loop.train(config, str(tmp_path / "device"), task, images)
  config.data.update(pipeline="stream", workers=workers)
  streamed = loop.train(config, str(tmp_path / "stream"), task, images)
  _assert_trees_equal(_params(device), _params(streamed))
  rows = lambda d: [{k: v for k, v in r.items() if k != "train/seconds"} for r in read_metrics(str(tmp_path / d))]
  assert rows("device") == rows("stream")


def test_a_prepared_split_streams_record_by_record(tmp_path):
  """A reader of the real MNIST train split, streamed, against its arrays whole on the device; under
  `auto` it fits, so it would be read whole."""
  config, task, _ = _setup(steps=6, checkpoint_every=6, eval_every=6)
  reader = data.open_split("mnist", "train")
  assert config.data.pipeline == "auto" and not stream.streams(config.data, reader)  # 47 MB fits
  assert stream.source_bytes(reader) == 60000 * 28 * 28 + 60000 * 4
  config.data.pipeline = "stream"
  streamed = loop.train(config, str(tmp_path / "stream"), task, reader)
  config.data.pipeline = "device"
  whole = data.load("mnist", "train")
  device = loop.train(config, str(tmp_path / "device"), task, whole)
  _assert_trees_equal(_params(device), _params(streamed))
  order = stream.StepBatch(stream.ArraySource(whole), config.seed, 64)
  np.testing.assert_array_equal(reader.read(order.indices(5))["image"], whole["image"][order.indices(5)])
  halves = [stream.StepBatch(reader, config.seed, 64, shard=(i, 2)).indices(5) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(halves), order.indices(5))  # two hosts, one batch
  # what a pretraining sweep streams: the images alone, and every label without the images
  images = reader.only("image")
  assert set(images.read(order.indices(5))) == {"image"}
  assert stream.source_bytes(images) == 60000 * 28 * 28
  np.testing.assert_array_equal(reader.labels(), whole["label"])


@pytest.mark.parametrize("field, value, message", [
    ("pipeline", "disk", "unknown data.pipeline 'disk'"),
    ("workers", -1, "data.workers must be a whole number >= 0"),
    ("prefetch", 0, "data.prefetch must be a whole number >= 1"),
])
def test_bad_pipeline_fields_are_usage_errors(tmp_path, field, value, message):
  config, task, images = _setup(steps=2)
  config.data[field] = value
  with pytest.raises(UsageError, match=message):
    loop.train(config, str(tmp_path / "run"), task, images)
  assert not os.path.exists(tmp_path / "run")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config, task, images = _setup(steps=60, log_every=5, checkpoint_every=10, eval_every=10)
  def exploding_step(state, batch, rng):
    new_state, metrics = task.train_step(state, batch, rng)
    bad = new_state.encoder.step > 23
    return new_state, {**metrics, "loss": jax.numpy.where(bad, jax.numpy.nan, metrics["loss"])}
  bad_task = dataclasses.replace(task, train_step=exploding_step)
  with pytest.raises(loop.NonFiniteLoss, match="non-finite.*step 20"):
    loop.train(config, str(tmp_path), bad_task, images)
  assert sorted(os.listdir(tmp_path / "checkpoints"))[-1] == "20"
  config.train.checkpoint_every = 50
  with pytest.raises(loop.NonFiniteLoss, match="no checkpoint was saved before it"):
    loop.train(config, str(tmp_path / "early"), bad_task, images)


def test_a_second_live_run_on_a_workdir_is_refused_untouched(tmp_path):
  config, task, images = _setup(steps=20)
  loop.train(config, str(tmp_path), task, images)
  before = {p: (tmp_path / p).read_bytes() for p in ("config.json", "metrics.jsonl")}
  holder = os.open(tmp_path / files.LOCK_FILE, os.O_RDWR)  # as a run in another process holds it
  fcntl.flock(holder, fcntl.LOCK_EX)
  try:
    with pytest.raises(UsageError, match="in use by another run"):
      loop.train(config, str(tmp_path), task, images)
  finally:
    os.close(holder)
  assert before == {p: (tmp_path / p).read_bytes() for p in before}


def test_workdir_of_another_config_is_refused_untouched(tmp_path):
  config, task, images = _setup(steps=20)
  loop.train(config, str(tmp_path), task, images)
  before = {p: (tmp_path / p).read_bytes() for p in ("config.json", "metrics.jsonl")}
  config.model.latent_dim = 4
  with pytest.raises(UsageError, match="different config.*model.latent_dim"):
    loop.train(config, str(tmp_path), task, images)
  assert before == {p: (tmp_path / p).read_bytes() for p in before}


def test_a_run_older_than_an_added_field_reopens_at_the_value_it_ran_by(tmp_path):
  config, task, images = _setup(steps=20)
  config.data.test_examples = 0  # the value runs had before the field
  loop.train(config, str(tmp_path), task, images)
  saved = json.loads((tmp_path / "config.json").read_text())
  del saved["data"]["test_examples"]  # as written before the field existed
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loop.train(config, str(tmp_path), task, images)  # finished: restored, no error
  config.data.test_examples = 100
  with pytest.raises(UsageError, match="different config.*data.test_examples: 0 in workdir, 100 now"):
    loop.train(config, str(tmp_path), task, images)


def test_a_study_older_than_a_field_resumes_at_its_default(tmp_path):
  defaults = ml_collections.ConfigDict({"a": 1, "block": {"x": 2, "y": (1, 2)}})
  saved = tmp_path / "config.json"
  saved.write_text(json.dumps({"a": 1}))  # written by code that had no `block` yet
  workdir_lib.start(ml_collections.ConfigDict(defaults.to_dict()), str(tmp_path), defaults=defaults)
  assert json.loads(saved.read_text()) == {"a": 1, "block": {"x": 2, "y": [1, 2]}}  # completed
  for changed, field in (({"a": 5}, "a: 1 in workdir, 5 now"), ({"block": {"x": 3, "y": (1, 2)}}, "block")):
    saved.write_text(json.dumps({"a": 1}))
    config = ml_collections.ConfigDict({**defaults.to_dict(), **changed})
    with pytest.raises(UsageError, match="different config.*" + field):
      workdir_lib.start(config, str(tmp_path), defaults=defaults)
    assert json.loads(saved.read_text()) == {"a": 1}  # untouched
  with pytest.raises(UsageError, match="different config"):  # without defaults, as strict as before
    workdir_lib.start(ml_collections.ConfigDict(defaults.to_dict()), str(tmp_path))


def test_corrupt_checkpoint_is_a_usage_error(tmp_path):
  config, task, images = _setup(steps=20)
  loop.train(config, str(tmp_path), task, images)
  for root, _, names in os.walk(tmp_path / "checkpoints" / "20"):
    for name in names:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"garbage")
  with pytest.raises(UsageError, match="cannot be restored"):
    loop.train(config, str(tmp_path), task, images)


def test_bad_train_fields_are_usage_errors(tmp_path):
  with pytest.raises(UsageError, match="train.steps must be positive"):
    _setup(steps=0)  # where the objective's parts are built
  config, task, images = _setup(steps=20)
  config.train.steps = 0
  with pytest.raises(UsageError, match="train.steps"):  # and by the loop, for tasks made otherwise
    loop.train(config, str(tmp_path), task, images)
  config.train.update(steps=10, batch_size=10_000)
  task = autoencoder.make_task(config, data.input_spec("mnist"), images["image"][:4].astype(np.float32) / 255)
  with pytest.raises(UsageError, match="batch_size"):
    loop.train(config, str(tmp_path), task, images)
  config.train.update(batch_size=64, loop="gpu")
  with pytest.raises(UsageError, match="train.loop"):
    loop.train(config, str(tmp_path), task, images)
  config.train.loop = "auto"
  config.dtype = "float16"  # refused where the objective's parts are built, before any training
  with pytest.raises(UsageError, match="unknown dtype 'float16'"):
    autoencoder.make_task(config, data.input_spec("mnist"), images["image"][:4].astype(np.float32) / 255)
  assert not os.path.exists(tmp_path / "config.json")


def test_bfloat16_compute_tracks_float32_and_keeps_float32_params(tmp_path):
  config, task, images = _setup(steps=20, log_every=10)
  f32 = loop.train(config, str(tmp_path / "f32"), task, images)
  config.dtype = "bfloat16"  # the objective's parts compute in the config's dtype
  task = autoencoder.make_task(config, data.input_spec("mnist"), images["image"][:64].astype(np.float32) / 255)
  bf16 = loop.train(config, str(tmp_path / "bf16"), task, images)
  assert all(p.dtype == np.float32 for p in jax.tree.leaves(_params(bf16)))
  loss = lambda d: [r["train/loss"] for r in read_metrics(str(tmp_path / d)) if "train/loss" in r]
  # bf16 keeps 8 bits of mantissa: close to float32, but not the same numbers
  np.testing.assert_allclose(loss("bf16"), loss("f32"), rtol=2e-2)
  assert loss("bf16") != loss("f32")
  assert not np.array_equal(jax.tree.leaves(_params(f32))[0], jax.tree.leaves(_params(bf16))[0])
