"""Timing for benchmarks (never for tests): repeated timed windows after a warm-up."""

import statistics
import time
from typing import Callable, Mapping


def time_windows(run_window: Callable[[], object], steps_per_window: int, repeats: int = 5,
                 warmup: int = 1) -> dict:
  """Milliseconds per step over `repeats` windows; `run_window` runs `steps_per_window` steps and
  blocks until they are done. The first `warmup` windows (compilation, caches) are not counted."""
  return time_interleaved({"only": run_window}, steps_per_window, repeats, warmup)["only"]


def time_interleaved(run_windows: Mapping[str, Callable[[], object]], steps_per_window: int,
                     repeats: int = 5, warmup: int = 1) -> dict:
  """`time_windows` for several variants at once, their windows taken in turn (a, b, a, b, ...),
  so that a slow spell of a shared machine falls on all of them and their ratio stays fair."""
  warmup_ms = {name: [] for name in run_windows}
  for name, run_window in run_windows.items():
    for _ in range(warmup):
      t0 = time.perf_counter()
      run_window()
      warmup_ms[name].append((time.perf_counter() - t0) * 1000)
  per_step = {name: [] for name in run_windows}
  for _ in range(repeats):
    for name, run_window in run_windows.items():
      t0 = time.perf_counter()
      run_window()
      per_step[name].append((time.perf_counter() - t0) * 1000 / steps_per_window)
  return {name: {"ms_per_step": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "repeats": repeats,
                 "steps_per_window": steps_per_window, "warmup_ms": warmup_ms[name]}
          for name, v in per_step.items()}

