"""Train-step speed of every model family: writes benchmark.json and benchmark.md to the workdir.

python experiments/benchmark.py --config=experiments/configs/benchmark.py --workdir=runs/bench
python experiments/benchmark.py --config=experiments/configs/benchmark.py:bfloat16 --workdir=runs/bench_bf16

What each column means is in jaxunsup/recipes/benchmark.py. The PyTorch rows (experiments/peers/) need
torch (pip install -e .[peers]); without it they are skipped and the table says so.
"""

import os

from absl import flags
from ml_collections import config_flags

from jaxunsup import bench, cli
from jaxunsup.recipes import benchmark
from jaxunsup.errors import UsageError
from jaxunsup.train import files, workdir as workdir_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/configs/benchmark.py:smoke.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for benchmark.json and benchmark.md.")
flags.mark_flags_as_required(["config", "workdir"])


def _peers(result, config):
  try:
    import torch
  except ImportError:
    return [], "torch is not installed (pip install -e .[peers]); PyTorch rows skipped"
  from peers import dcgan_torch, mlp_ae_torch  # experiments/ is on sys.path when this script runs
  torch.set_num_threads(os.cpu_count())
  makers = {"autoencoder/mlp": mlp_ae_torch.make_step,
            "gan/dcgan": lambda b: dcgan_torch.make_step("subpixel", b),
            "gan/dcgan:model.gen_upsampling=transposed": lambda b: dcgan_torch.make_step("transposed", b)}
  if config.small or config.dtype != "float32":  # the peers are the full-size float32 models
    return [], "PyTorch rows are for the full-size float32 models only"
  return benchmark.time_peers(result["rows"], config, makers), \
      f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def _machine_peak(result, config):
  """PyTorch's matmul peak on this CPU in the same run, and each row's MFU against it."""
  try:
    import torch
  except ImportError:
    return
  from peers import matmul_torch
  if result["platform"] != "cpu":
    return
  torch.set_num_threads(os.cpu_count())
  run_window, reps = matmul_torch.make_window(config.peak_matmul, config.dtype)
  t = bench.time_windows(run_window, reps, config.repeats, 1)
  benchmark.add_machine_peak(result, 2 * config.peak_matmul ** 3 / (t["ms_per_step"] / 1000),
                             f"measured: {config.peak_matmul}x{config.peak_matmul} {config.dtype} matmul "
                             f"through PyTorch {torch.__version__}, median of {config.repeats} windows")


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = _CONFIG.value
  result = benchmark.run(config)
  if config.peers:
    result["peers"], result["torch"] = _peers(result, config)
    _machine_peak(result, config)
  result["config"] = workdir_lib.config_to_json(config)
  files.write_json(os.path.join(_WORKDIR.value, "benchmark.json"), result)
  table = benchmark.markdown(result)
  files.write_text(os.path.join(_WORKDIR.value, "benchmark.md"), table)
  print(table)


if __name__ == "__main__":
  cli.run(main)
