"""The one training loop: on-device or streamed batches, logging, eval, checkpoints, exact resume,
NaN stop."""

import dataclasses
import functools
import math
import os
import sys
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxunsup.errors import UsageError
from jaxunsup.train import checkpoint, compiled, files, parallel, stream, workdir as workdir_lib
from jaxunsup.train.metrics_writer import MetricWriter

# Streams of randomness derived from the seed; a step's key is fold_in(stream, step).
INIT, DATA, STEP, EVAL = range(4)


class NonFiniteLoss(UsageError):
  """Training produced NaN or Inf: reported like bad input, since the fix is in the config."""


def _as_stored(batch: Mapping[str, jnp.ndarray]) -> dict:
  return dict(batch)


@dataclasses.dataclass(frozen=True)
class Task:
  """What the loop needs from an objective; init, prepare and train_step are pure.

  init: rng -> state.
  train_step: (state, batch, rng) -> (state, metrics); batch holds B examples of each array of the
    train data as `prepare` makes them from the stored arrays (the data layer's `model_inputs`
    scales uint8 images to [0, 1]), with B = `examples_per_step`, or `train.batch_size` when None
    (a WGAN critic that takes several batches per generator step asks for more).
  evaluate: (state, rng) -> dict of floats, run every `train.eval_every` steps (on the host; it
    may also save what figures need, such as the GANs' fixed-noise samples).
  show: the training metrics the progress bar shows, where the step reports them.
  """
  init: Callable[[jax.Array], Any]
  train_step: Callable[[Any, Mapping[str, jnp.ndarray], jax.Array], tuple]
  evaluate: Callable[[Any, jax.Array], Mapping[str, float]]
  examples_per_step: int | None = None
  prepare: Callable[[Mapping[str, jnp.ndarray]], dict] = _as_stored
  show: tuple = ("loss",)


@dataclasses.dataclass
class LoopResult:
  state: Any
  steps: int
  train_seconds: float
  resumed_from: int


def validate(train_cfg: ml_collections.ConfigDict, num_examples: int, examples_per_step: int) -> None:
  """Checks the `train` fields the loop uses; raises UsageError on nonsense."""
  for name in ("steps", "batch_size", "log_every", "eval_every", "checkpoint_every"):
    value = train_cfg[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise UsageError(f"train.{name} must be a positive integer, got {value!r}")
  on_device_loop(train_cfg.get("loop", "auto"))
  if examples_per_step > num_examples:
    raise UsageError(f"a step takes {examples_per_step} examples (train.batch_size "
                     f"{train_cfg.batch_size}) but there are only {num_examples} training examples")


LOOP_MODES = ("auto", "device", "host")


def on_device_loop(mode: str) -> bool:
  """Whether to run a segment's steps in an on-device loop (`train.loop`).

  `auto` picks the host loop on CPU: XLA's CPU backend runs convolutions inside a while loop about
  6x slower than the same step jitted alone (conv AE at batch 256: 270 vs 41 ms), while dispatch
  costs little there. On accelerators the device loop saves a dispatch per step.
  """
  if mode not in LOOP_MODES:
    raise UsageError(f"unknown train.loop {mode!r}; choose one of {', '.join(LOOP_MODES)}")
  return jax.default_backend() != "cpu" if mode == "auto" else mode == "device"


def make_segment_runner(train_step: Callable, batch_size: int, device_loop: bool | None = None,
                        mesh: jax.sharding.Mesh | None = None,
                        prepare: Callable = _as_stored) -> Callable:
  """A runner of consecutive steps [start, stop): (state, data, perm, step_key, start, stop) ->
  (state, mean of each metric over the segment), for a Task's `train_step` and `prepare`.

  Made once per argument (train/compiled.py): runs that pass the same step function share
  compiled code (a label sweep trains dozens of small models with one step; the objective
  registry keeps steps the same objects).

  Each step gathers its batch on device by index into the epoch's permutation and draws its key
  as fold_in(step_key, step), so how steps are grouped into segments never changes the result.
  With `device_loop` (default: see `on_device_loop("auto")`) the whole segment is one jitted
  `fori_loop` with traced bounds (one dispatch, no recompiles); otherwise the host dispatches one
  jitted step at a time, each still reading its batch from the data already on the device.

  On a mesh of several devices (train/parallel.py) each device gathers its slice of the batch
  from its replica of the data, and the state keeps its layout from step to step.
  """
  if device_loop is None:
    device_loop = on_device_loop("auto")
  return compiled.once(("segment_runner", train_step, batch_size, device_loop, mesh, prepare),
                       lambda: _segment_runner(train_step, batch_size, device_loop, mesh, prepare))


def _segment_runner(train_step, batch_size, device_loop, mesh, prepare) -> Callable:
  spmd = not parallel.is_single(mesh)

  def step_fn(data, perm_N, step_key, step, state):
    steps_per_epoch = perm_N.shape[0] // batch_size
    idx_B = jax.lax.dynamic_slice_in_dim(perm_N, (step % steps_per_epoch) * batch_size, batch_size)
    batch = prepare({key: values[idx_B] for key, values in data.items()})
    if spmd:
      batch = parallel.constrain_batch(mesh, batch)
    state, metrics = train_step(state, batch, jax.random.fold_in(step_key, step))
    return (parallel.constrain_state(mesh, state) if spmd else state), metrics

  if device_loop:
    @functools.partial(jax.jit, donate_argnums=0)
    def run_segment(state, data, perm_N, step_key, start, stop):
      def body(step, carry):
        state, sums = carry
        state, metrics = step_fn(data, perm_N, step_key, step, state)
        return state, jax.tree.map(jnp.add, sums, metrics)

      shapes = jax.eval_shape(step_fn, data, perm_N, step_key, start, state)[1]
      sums = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)
      state, sums = jax.lax.fori_loop(start, stop, body, (state, sums))
      return state, jax.tree.map(lambda v: v / (stop - start), sums)

    return run_segment

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def one_step(state, sums, data, perm_N, step_key, step):
    state, metrics = step_fn(data, perm_N, step_key, step, state)
    return state, jax.tree.map(jnp.add, sums, metrics)

  shapes = {}  # metric shapes, traced once

  def run_segment(state, data, perm_N, step_key, start, stop):
    if not shapes:
      shapes["metrics"] = jax.eval_shape(step_fn, data, perm_N, step_key, 0, state)[1]
    sums = _zero_sums(shapes["metrics"], mesh)
    for step in range(int(start), int(stop)):
      state, sums = one_step(state, sums, data, perm_N, step_key, jnp.asarray(step, jnp.int32))
    return state, jax.tree.map(lambda v: v / (int(stop) - int(start)), sums)

  return run_segment


def _zero_sums(shapes: Any, mesh) -> Any:
  """A segment's first metric sums, placed where one_step returns its sums: uncommitted zeros
  in the first step and committed sums after it made jit compile the step twice in every run."""
  return parallel.place(mesh, {}, jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), shapes))[1]


def make_stream_runner(train_step: Callable, mesh: jax.sharding.Mesh | None = None,
                       prepare: Callable = _as_stored) -> Callable:
  """A runner of consecutive steps [start, stop) fed by the streaming pipeline: (state, batches,
  step_key, start, stop) -> (state, mean of each metric), where `batches` yields this process's
  rows of each step's batch (train/stream.py). One jitted step per batch, the batch laid over the
  mesh as the on-device pipeline lays it, so both pipelines run the same computation."""
  return compiled.once(("stream_runner", train_step, mesh, prepare),
                       lambda: _stream_runner(train_step, mesh, prepare))


def _stream_runner(train_step, mesh, prepare) -> Callable:
  spmd = not parallel.is_single(mesh)

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def one_step(state, sums, batch, step_key, step):
    batch = prepare(batch)
    if spmd:
      batch = parallel.constrain_batch(mesh, batch)
    state, metrics = train_step(state, batch, jax.random.fold_in(step_key, step))
    state = parallel.constrain_state(mesh, state) if spmd else state
    return state, jax.tree.map(jnp.add, sums, metrics)

  def put(batch):
    if not spmd:
      return jax.device_put(batch, jax.local_devices()[0])
    sharding = jax.sharding.NamedSharding(mesh, parallel.BATCH)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}

  shapes = {}  # metric shapes, traced once

  def run_segment(state, batches, step_key, start, stop):
    sums = None
    for step in range(int(start), int(stop)):
      batch = put(next(batches))
      if not shapes:
        shapes["metrics"] = jax.eval_shape(lambda s, b: train_step(s, prepare(b), step_key)[1], state, batch)
      if sums is None:
        sums = _zero_sums(shapes["metrics"], mesh)
      state, sums = one_step(state, sums, batch, step_key, jnp.asarray(step, jnp.int32))
    return state, jax.tree.map(lambda v: v / (int(stop) - int(start)), sums)

  return run_segment


@functools.partial(jax.jit, static_argnums=2)
def epoch_permutation(data_key: jax.Array, epoch: int, n: int) -> jnp.ndarray:
  """The example order of one epoch, a function of (seed, epoch) only, so resume replays it."""
  return jax.random.permutation(jax.random.fold_in(data_key, epoch), n)


def _mean_rows(pending: list) -> dict:
  """Step-weighted mean of segment means: pending holds (means, number of steps) pairs."""
  rows = jax.device_get(pending)
  total = sum(n for _, n in rows)
  return {k: float(sum(np.float64(r[k]) * n for r, n in rows) / total) for k in rows[0][0]}


def _next_stop(step: int, total: int, steps_per_epoch: int, tc) -> int:
  """The end of the segment starting at `step`: the next event or epoch boundary.

  Boundaries depend on absolute step numbers only, so a resumed run replays the same segments.
  """
  stops = [total, (step // steps_per_epoch + 1) * steps_per_epoch]
  stops += [(step // every + 1) * every for every in (tc.log_every, tc.eval_every, tc.checkpoint_every)]
  return min(stops)


def train(config: ml_collections.ConfigDict, workdir: str, task: Task, train_data) -> LoopResult:
  """Runs `task` for `config.train.steps` steps in `workdir`, resuming from its last checkpoint.

  `train_data` holds arrays of N examples each, such as "image" (uint8 N x H x W x C) and "label"
  (N), or "ids" (int32 N x T) for text, or is a reader of a prepared split (`data.open_split`).
  `config.data.pipeline` says how batches reach the device (train/stream.py): `device` keeps the
  data whole on the device (on every device of the config's `mesh`, each of which takes its slice
  of every batch); `stream` reads each batch on the host; `auto` streams what would not fit a
  quarter of the device's memory (`stream.AUTO_SHARE`) and holds the rest whole.
  """
  tc = config.train
  data_cfg = config.get("data") or ml_collections.ConfigDict()
  stream.check(data_cfg)
  source = stream.ArraySource(train_data) if isinstance(train_data, Mapping) else train_data
  n = len(source)
  per_step = task.examples_per_step or tc.batch_size
  validate(tc, n, per_step)
  mesh = parallel.make_mesh(config.get("mesh"))
  parallel.check_batch(mesh, per_step, "a step's examples (train.batch_size)")
  if not stream.streams(data_cfg, source):
    source = source.arrays if isinstance(source, stream.ArraySource) else source.read(np.arange(n))
  with files.workdir_lock(workdir):
    return _train(config, workdir, task, source, mesh, n, per_step)


def _train(config, workdir, task, train_data, mesh, n: int, per_step: int) -> LoopResult:
  tc = config.train
  files.make_dirs(workdir)  # the lock made it on process 0; the other processes of a multi-host run
  mngr = checkpoint.manager(workdir, tc.get("max_to_keep", 3))
  has_config = workdir_lib.check_config(config, workdir, mngr.latest_step() is not None)

  root = jax.random.key(config.seed)
  keys = {name: jax.random.fold_in(root, name) for name in (INIT, DATA, STEP, EVAL)}
  state = task.init(keys[INIT])
  restored = checkpoint.restore_latest(mngr, checkpoint.pack(state, root, 0, 0.0))
  start, elapsed = 0, 0.0
  if restored is not None:
    if not np.array_equal(restored["rng"], jax.random.key_data(root)):
      raise UsageError(f"checkpoint in {workdir} was made with another seed; use a new --workdir")
    state, start, elapsed = restored["state"], int(restored["step"]), float(restored["train_seconds"])
  if not has_config:
    files.write_json(os.path.join(workdir, workdir_lib.CONFIG_FILE), workdir_lib.config_to_json(config))
  writer = MetricWriter(workdir, start)  # reads the log first: a damaged one is refused before this says more
  if restored is not None:
    done = "resuming from step" if start < tc.steps else "restored, trained to step"
    print(f"{workdir}: {done} {start} of {tc.steps}", file=sys.stderr)

  # Placed whether fresh or restored: a mix of committed and uncommitted arrays (a restored encoder
  # under a fresh head) would compile the step once more.
  mesh = None if parallel.is_single(mesh) else mesh
  streaming = not isinstance(train_data, Mapping)
  if streaming:  # only the state goes to the device; batches follow step by step
    state, _ = parallel.place(mesh, state, {})
    data_cfg = config.data
    batches = stream.Batches(train_data, config.seed, per_step, start, tc.steps, data_cfg.get("workers", 0),
                             data_cfg.get("prefetch", 2), shard=(jax.process_index(), jax.process_count()))
    run_streamed = make_stream_runner(task.train_step, mesh, task.prepare)
    run_segment = lambda state, data, perm, key, a, b: run_streamed(state, batches, key, a, b)
    data = None
  else:
    batches = None
    state, data = parallel.place(mesh, state, {k: np.asarray(v) for k, v in train_data.items()})
    run_segment = make_segment_runner(task.train_step, per_step, on_device_loop(tc.get("loop", "auto")), mesh,
                                      task.prepare)
  # Evaluation and the caller see the state on one device, whatever the mesh.
  local = (lambda s: s) if mesh is None else functools.partial(parallel.to_local, mesh)
  steps_per_epoch = n // per_step
  epoch, perm, pending = -1, None, []
  bar = tqdm(total=tc.steps, initial=start, desc=os.path.basename(os.path.normpath(workdir)),
             unit="step", mininterval=2.0, dynamic_ncols=True)
  t0 = time.perf_counter()
  step = start
  try:
    while step < tc.steps:
      if step // steps_per_epoch != epoch and not streaming:
        epoch = step // steps_per_epoch
        perm = epoch_permutation(keys[DATA], epoch, n)
        if mesh is not None:
          perm = parallel.put_replicated(mesh, perm)
      stop = _next_stop(step, tc.steps, steps_per_epoch, tc)
      state, means = run_segment(state, data, perm, keys[STEP], step, stop)
      pending.append((means, stop - step))
      step = done = stop
      last = done == tc.steps
      if not (last or done % tc.log_every == 0 or done % tc.eval_every == 0
              or done % tc.checkpoint_every == 0):
        continue
      row = _mean_rows(pending)
      pending = []
      if not all(math.isfinite(v) for v in row.values()):
        last_good = mngr.latest_step()
        kept = (f"the last good checkpoint (step {last_good}) is kept in {mngr.directory}"
                if last_good is not None else "no checkpoint was saved before it")
        raise NonFiniteLoss(f"non-finite training metrics by step {done} ({row}); stopped, {kept}; "
                            "try a lower train.learning_rate")
      seconds = elapsed + time.perf_counter() - t0
      writer.write(done, {**{f"train/{k}": v for k, v in row.items()}, "train/seconds": seconds})
      if last or done % tc.eval_every == 0:
        scores = task.evaluate(local(state), jax.random.fold_in(keys[EVAL], done))
        writer.write(done, {f"eval/{k}": v for k, v in scores.items()})
      if last or done % tc.checkpoint_every == 0:
        checkpoint.save(mngr, done, checkpoint.pack(state, root, done, seconds))
      bar.set_postfix({k: f"{row[k]:.4g}" for k in task.show if k in row}, refresh=False)
      bar.update(done - bar.n)
  finally:
    bar.close()
    writer.close()
    if batches is not None:
      batches.close()
  state = local(jax.block_until_ready(state))
  total = elapsed + time.perf_counter() - t0
  return LoopResult(state=state, steps=tc.steps, train_seconds=total, resumed_from=start)
