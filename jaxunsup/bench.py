"""Timing for benchmarks (never for tests): repeated timed windows after a warm-up."""

import statistics
import time
from typing import Callable


def time_windows(run_window: Callable[[], object], steps_per_window: int, repeats: int = 5,
                 warmup: int = 1) -> dict:
  """Milliseconds per step over `repeats` windows; `run_window` runs `steps_per_window` steps and
  blocks until they are done. The first `warmup` windows (compilation, caches) are not counted."""
  for _ in range(warmup):
    run_window()
  per_step = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    run_window()
    per_step.append((time.perf_counter() - t0) * 1000 / steps_per_window)
  return {"ms_per_step": statistics.median(per_step), "min_ms": min(per_step), "max_ms": max(per_step),
          "repeats": repeats, "steps_per_window": steps_per_window}
