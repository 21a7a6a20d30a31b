"""Trains one GAN and writes its workdir, or samples from a trained one (see docs/experiments.md, GANs).

python experiments/gan.py --config=experiments/configs/gan.py:dcgan --workdir=runs/dcgan
python experiments/gan.py --mode=sample --workdir=runs/dcgan --num_samples=1000 --out=more.npy
python experiments/gan.py --mode=truncation --workdir=runs/dcgan --truncations=0.5,1,1.5,2,none
"""

import json
import os

from absl import flags
from ml_collections import config_flags

from jaxunsup import cli
from jaxunsup.recipes import gan
from jaxunsup.errors import UsageError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/configs/gan.py:dcgan.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, figures, summary.json.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "sample", "truncation"],
                          "train; sample from the workdir's checkpoint; or score it at several truncation thresholds.")
_NUM = flags.DEFINE_integer("num_samples", 10000, "sample and truncation modes: how many images.")
_SEED = flags.DEFINE_integer("seed", 0, "sample and truncation modes: seed of the latent codes.")
_EMA = flags.DEFINE_bool("ema", False, "sample and truncation modes: use the EMA of the generator weights.")
_TRUNCATION = flags.DEFINE_float("truncation", None, "sample mode: draw each latent coordinate from the normal "
                                 "truncated to [-t, t] (BigGAN's truncation trick).")
_TRUNCATIONS = flags.DEFINE_list("truncations", ["0.5", "0.75", "1", "1.5", "2", "none"],
                                 "truncation mode: the thresholds to score (`none`: no truncation).")
_OUT = flags.DEFINE_string("out", None, "sample mode: .npy file to write "
                           "(default WORKDIR/samples_seed{seed}[_t{truncation}][_ema].npy).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _MODE.value == "sample":
    tag = f"_t{_TRUNCATION.value:g}" if _TRUNCATION.value is not None else ""
    name = f"samples_seed{_SEED.value}{tag}{'_ema' if _EMA.value else ''}.npy"
    out = _OUT.value or os.path.join(_WORKDIR.value, name)
    print(gan.write_samples(_WORKDIR.value, out, _NUM.value, _SEED.value, _EMA.value, _TRUNCATION.value))
    return
  if _MODE.value == "truncation":
    rows = gan.truncation_study(_WORKDIR.value, _TRUNCATIONS.value, _NUM.value, _SEED.value, _EMA.value)
    print(json.dumps(rows, indent=2))
    return
  if _CONFIG.value is None:
    raise UsageError("--config is required to train, e.g. --config=experiments/configs/gan.py:dcgan")
  print(json.dumps(gan.train_and_evaluate(_CONFIG.value, _WORKDIR.value), indent=2))


if __name__ == "__main__":
  cli.run(main)
