"""The streaming input pipeline: each step's batch read on the host, then put on the device.

The default pipeline keeps the training arrays whole on the device and gathers each batch there.
That cannot work once the data outgrows the device. Streaming reads each step's examples from a
source (`ArraySource` over arrays in memory, or `data.open_split`'s reader of a prepared split,
which holds only a batch at a time) with Grain, in worker processes when `data.workers` > 0 (each
opens its own reader and computes its own indices) or in background threads.

The examples of step s are the same in both pipelines: epoch e = s // (N // B) is ordered by
`loop.epoch_permutation(seed, e)`, and step s takes the slice of B that the on-device gather takes.
So a streamed run equals the on-device run of the same config, and the iterator's position is
the step: a resumed run starts its iterator at the restored step and reads what the killed run
would have read. Augmentation stays inside the jitted step, where both pipelines share it.
"""

import os
import threading

import jax
import numpy as np

from jaxunsup.errors import UsageError

PIPELINES = ("auto", "device", "stream")
# `auto` streams when the train arrays would take more than this share of one device's memory.
AUTO_SHARE = 0.25


class ArraySource:
  """Arrays already in host memory, read by index like a prepared split."""

  def __init__(self, arrays):
    self.arrays = {k: np.asarray(v) for k, v in arrays.items()}

  def __len__(self) -> int:
    return len(next(iter(self.arrays.values())))

  def read(self, indices) -> dict:
    return {k: v[indices] for k, v in self.arrays.items()}


def source_bytes(source) -> int:
  """What the whole source would take in memory, from one example's arrays."""
  one = source.read(np.zeros(1, np.int64))
  return len(source) * sum(np.asarray(v).nbytes for v in one.values())


def device_bytes() -> int:
  """Memory of the first local device; on a CPU backend (which reports none), the host's RAM."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check(data_cfg) -> None:
  """UsageError on a pipeline, worker count or prefetch depth that cannot run."""
  pipeline = data_cfg.get("pipeline", "auto")
  if pipeline not in PIPELINES:
    raise UsageError(f"unknown data.pipeline {pipeline!r}; choose one of {', '.join(PIPELINES)}")
  for name, least in (("workers", 0), ("prefetch", 1)):
    value = data_cfg.get(name, least)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
      raise UsageError(f"data.{name} must be a whole number >= {least}, got {value!r}")


def streams(data_cfg, source) -> bool:
  """Whether a run of `data_cfg` streams `source`: under `auto`, when the whole source would take
  more than `AUTO_SHARE` of one device's memory (a reader that fits is read whole instead)."""
  pipeline = data_cfg.get("pipeline", "auto")
  if pipeline == "auto":
    return source_bytes(source) > AUTO_SHARE * device_bytes()
  return pipeline == "stream"


def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
  from jaxunsup.train import loop  # pylint: disable=g-import-not-at-top  (loop imports this module)
  data_key = jax.random.fold_in(jax.random.key(seed), loop.DATA)
  return np.asarray(loop.epoch_permutation(data_key, epoch, n))


class StepBatch:
  """step -> the examples the on-device pipeline gathers at that step, read from `source`."""

  def __init__(self, source, seed: int, batch_size: int, shard: tuple = (0, 1)):
    self.source, self.seed, self.batch_size, self.shard = source, seed, batch_size, shard
    self.n = len(source)
    self._orders, self._lock = {}, threading.Lock()

  def __getstate__(self) -> dict:
    return {k: v for k, v in self.__dict__.items() if k not in ("_orders", "_lock")}

  def __setstate__(self, state) -> None:
    self.__dict__.update(state, _orders={}, _lock=threading.Lock())

  def indices(self, step: int) -> np.ndarray:
    per_epoch = self.n // self.batch_size
    epoch = step // per_epoch
    with self._lock:
      if epoch not in self._orders:
        self._orders = {epoch: _epoch_order(self.seed, epoch, self.n)}  # one epoch at a time
      order = self._orders[epoch]
    index, count = self.shard  # this process's rows of the global batch, in mesh order
    start = (step % per_epoch) * self.batch_size + index * (self.batch_size // count)
    return order[start:start + self.batch_size // count]

  def __call__(self, step) -> dict:
    return self.source.read(self.indices(int(step)))


def _worker_init(index: int, count: int) -> None:
  del index, count
  # A worker computes permutations only: on the CPU, never claiming an accelerator's memory.
  jax.config.update("jax_platforms", "cpu")


class Batches:
  """Host batches of steps [start, stop) in order (process `shard[0]` of `shard[1]` reads only its
  rows of each); `close()` stops the workers."""

  def __init__(self, source, seed: int, batch_size: int, start: int, stop: int, workers: int = 0,
               prefetch: int = 2, shard: tuple = (0, 1)):
    import grain  # pylint: disable=g-import-not-at-top  (only streaming runs need it)
    dataset = grain.MapDataset.range(start, stop).map(StepBatch(source, seed, batch_size, shard))
    if workers:
      from absl import flags  # pylint: disable=g-import-not-at-top
      if not flags.FLAGS.is_parsed():  # grain's workers read its flags; a notebook never parses any
        flags.FLAGS.mark_as_parsed()
      options = grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=prefetch)
      # Grain's default read-ahead inside each worker is 500 elements: 1.5 GB of 64x64 batches.
      reads = grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch)
      dataset = dataset.to_iter_dataset(reads).mp_prefetch(options, worker_init_fn=_worker_init)
    else:
      dataset = dataset.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=prefetch))
    self._it = iter(dataset)

  def __next__(self) -> dict:
    return next(self._it)

  def close(self) -> None:
    close = getattr(self._it, "close", None)
    if close is not None:
      close()
    self._it = None
