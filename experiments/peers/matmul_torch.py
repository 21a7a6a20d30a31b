"""The machine's matmul peak as PyTorch (oneDNN on CPU) reaches it: on CPUs with bf16 tile units
(Intel AMX) it is several times what XLA's CPU backend reaches, so an MFU against XLA's own
matmul alone would flatter the harness."""

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def make_window(n: int, dtype: str):
  """run_window(), reps: about 20 GFLOP of n x n matmuls in `dtype` per window."""
  a = torch.randn(n, n, dtype=DTYPES[dtype])
  b = torch.randn(n, n, dtype=DTYPES[dtype])
  reps = max(1, int(2e10 // (2 * n ** 3)))

  def run_window():
    with torch.no_grad():
      for _ in range(reps):
        torch.mm(a, b)
  return run_window, reps
