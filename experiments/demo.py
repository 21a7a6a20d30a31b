"""`make demo`: the autoencoder family on real MNIST at a small budget, and runs/demo/REPORT.md.

python experiments/demo.py --workdir=runs/demo [--models=mlp,conv,denoising,vae]
"""

import os

from absl import flags

from jaxunsup import cli, report
from jaxunsup.recipes import autoencoder
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.objectives import registry

_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Directory for the runs and REPORT.md.")
_MODELS = flags.DEFINE_list("models", list(registry.names("autoencoder")), "Models of the family to train.")
_DATASET = flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist.")


def main(argv):
  del argv
  summaries = {}
  for name in _MODELS.value:
    config = get_config("demo")
    config.model.name = name
    config.data.name = _DATASET.value
    print(f"== {name} on {config.data.name}")
    summary = autoencoder.train_and_evaluate(config, os.path.join(_WORKDIR.value, name))
    summaries[name] = {**summary, "_workdir": os.path.join(_WORKDIR.value, name)}
  path = os.path.join(_WORKDIR.value, "REPORT.md")
  report.write(path, report.autoencoder_report(
      summaries, "make demo", f"Autoencoder family on {_DATASET.value} (demo budget)"))
  print(f"wrote {path}")


if __name__ == "__main__":
  cli.run(main)
