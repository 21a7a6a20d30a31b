"""Maps, kNN, clustering and one-class anomaly detection on trained representations (see docs/experiments.md).

python experiments/representations.py --config=experiments/configs/representations.py \
    --workdir=runs/representations_mnist
"""

import json

from absl import flags
from ml_collections import config_flags

from jaxunsup import cli
from jaxunsup.recipes import representations
from jaxunsup.errors import UsageError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. experiments/configs/representations.py:smoke.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for summary.json, tables, figures, one-class models.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  summary = representations.run(_CONFIG.value, _WORKDIR.value)
  print(json.dumps(summary["seconds"]))
  print(representations.markdown(summary))


if __name__ == "__main__":
  cli.run(main)
