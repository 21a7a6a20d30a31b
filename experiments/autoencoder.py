"""Trains one autoencoder of the family and writes its workdir (see docs/experiments.md, run contract).

python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:demo \
    --workdir=runs/ae --config.model.name=conv
"""

import json

from absl import flags
from ml_collections import config_flags

from jaxunsup import cli
from jaxunsup.recipes import autoencoder
from jaxunsup.errors import UsageError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. experiments/configs/autoencoder.py:demo.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, figures, summary.json.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  print(json.dumps(autoencoder.train_and_evaluate(_CONFIG.value, _WORKDIR.value), indent=2))


if __name__ == "__main__":
  cli.run(main)
