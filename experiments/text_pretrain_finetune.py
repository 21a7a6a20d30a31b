"""Pretrains a text encoder with each objective, then runs the sentiment label sweep (see docs/experiments.md).

python experiments/text_pretrain_finetune.py \
    --config=experiments/configs/text_pretrain_finetune.py:smoke --workdir=runs/text_smoke
"""

import json

from absl import flags
from ml_collections import config_flags

from jaxunsup import cli, sweep
from jaxunsup.errors import UsageError
from jaxunsup.recipes import text_pretrain_finetune

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. experiments/configs/text_pretrain_finetune.py:smoke.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the phases' workdirs, summary.json, figures.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  summary = text_pretrain_finetune.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  print(json.dumps({k: v for k, v in summary.items() if k != "cells"}, indent=2))
  print(sweep.markdown_table(summary["cells"], f"Label sweep on {summary['dataset']}"))


if __name__ == "__main__":
  cli.run(main)
