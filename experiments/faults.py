"""The fault campaign: SIGKILL every experiment family at random moments, feed it bad input.

python experiments/faults.py --workdir=runs/faults
python experiments/faults.py --config=experiments/configs/faults.py:smoke --workdir=/tmp/faults

Writes faults.md (the tables docs/reliability.md shows) and faults.json.
"""

import os

from absl import flags
from ml_collections import config_flags

from jaxunsup import cli
from jaxunsup.errors import UsageError
from jaxunsup.recipes import faults

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "faults.py"),
    "Config file, e.g. experiments/configs/faults.py:smoke.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the runs, faults.md and faults.json.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  summary = faults.run_campaign(_CONFIG.value, _WORKDIR.value)
  print(faults.markdown(summary["kills"], summary["bad_input"]))


if __name__ == "__main__":
  cli.run(main)
