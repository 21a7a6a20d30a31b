"""Trains the PyTorch DCGAN of dcgan_torch.py on MNIST for a wall-clock budget, then writes samples
to score with the project's evaluator: the peer of `experiments/gan.py ...:dcgan` at equal time.

python experiments/peers/dcgan_torch_train.py --seconds=1605 --out=runs/dcgan_torch
python experiments/score_samples.py --samples=runs/dcgan_torch/samples.npy

With --steps=7000 it stops at the dcgan run's step count instead: the two compared per step.
With --gen_lr=1e-3 the generator learns at InfoGAN's MNIST rate, as `--config.train.gen_lr=1e-3` does.

Same networks (sub-pixel generator), loss, optimiser, batch and data as the `dcgan` variant;
PyTorch's own initialisers and a torch.randperm shuffle per epoch. A timed benchmark: a killed
run starts again from nothing, and an existing output folder is refused, not overwritten.
"""

import json
import os
import sys
import time

import numpy as np
import torch
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from peers.dcgan_torch import Discriminator, Generator, update  # noqa: E402
from jaxunsup import cli  # noqa: E402
from jaxunsup import data as data_lib  # noqa: E402
from jaxunsup.errors import UsageError  # noqa: E402
from jaxunsup.train import files  # noqa: E402

_SECONDS = flags.DEFINE_float("seconds", 1605.0, "Training time budget (the dcgan run's training time).")
_STEPS = flags.DEFINE_integer("steps", 0, "Stop after this many steps if the time budget lasts (0: time alone).")
_OUT = flags.DEFINE_string("out", None, "New folder for samples.npy and summary.json.")
_SEED = flags.DEFINE_integer("seed", 0, "torch.manual_seed.")
_NUM = flags.DEFINE_integer("num_samples", 10000, "Samples to write.")
_GEN_LR = flags.DEFINE_float("gen_lr", 2e-4, "The generator's Adam learning rate; the discriminator's stays 2e-4.")
flags.mark_flags_as_required(["out"])

BATCH, LATENT, LR, BETAS = 128, 64, 2e-4, (0.5, 0.999)  # configs/gan.py: dcgan


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if os.path.exists(_OUT.value):
    raise UsageError(f"{_OUT.value} exists; give a new --out")
  if not _SECONDS.value > 0:
    raise UsageError(f"--seconds must be positive, got {_SECONDS.value}")
  if not _GEN_LR.value > 0:
    raise UsageError(f"--gen_lr must be positive, got {_GEN_LR.value}")
  if _STEPS.value < 0:
    raise UsageError(f"--steps must be >= 0, got {_STEPS.value}")
  torch.manual_seed(_SEED.value)
  data_lib.prepare("mnist")
  images = data_lib.load("mnist", "train")["image"]
  real_all = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
  gen, disc = Generator(LATENT), Discriminator()
  opt_g = torch.optim.Adam(gen.parameters(), _GEN_LR.value, betas=BETAS)
  opt_d = torch.optim.Adam(disc.parameters(), LR, betas=BETAS)
  steps, start, order, first = 0, time.perf_counter(), torch.randperm(len(real_all)), 0
  while time.perf_counter() - start < _SECONDS.value and (not _STEPS.value or steps < _STEPS.value):
    if first + BATCH > len(real_all):  # a new epoch: drop the remainder, reshuffle
      order, first = torch.randperm(len(real_all)), 0
    real = real_all[order[first:first + BATCH]]
    first += BATCH
    update(gen, disc, opt_g, opt_d, real, LATENT)
    steps += 1
  seconds = time.perf_counter() - start
  gen.eval()  # batch norm's running averages, as our generator samples
  with torch.no_grad():
    out = torch.cat([gen(torch.randn(1000, LATENT)) for _ in range(-(-_NUM.value // 1000))])[:_NUM.value]
  samples = np.round((out.numpy().transpose(0, 2, 3, 1) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
  files.make_dirs(_OUT.value)
  files.save_npy(os.path.join(_OUT.value, "samples.npy"), samples)
  summary = {"steps": steps, "train_seconds": round(seconds, 1), "torch": torch.__version__,
             "threads": torch.get_num_threads(), "examples": steps * BATCH, "gen_lr": _GEN_LR.value}
  files.write_json(os.path.join(_OUT.value, "summary.json"), summary)
  print(json.dumps(summary))


if __name__ == "__main__":
  cli.run(main)
