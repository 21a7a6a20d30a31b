"""jaxunsup.load on workdirs made before their family's config gained fields."""

import json
import shutil

import numpy as np

from jaxunsup import data, trained
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.recipes import autoencoder
from jaxunsup.train import loop


def test_a_run_from_before_new_config_fields_still_loads(tmp_path):
  c = ae_configs.get_config("smoke")
  c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  train, test = data.load_splits(c.data)
  workdir = str(tmp_path / "now")
  loop.train(c, workdir, autoencoder.make_task(c, data.input_spec("mnist"), test["image"][:16] / 255.0),
             {"image": train["image"][:256]})
  old = str(tmp_path / "old")
  shutil.copytree(workdir, old)
  with open(f"{old}/config.json") as f:
    saved = json.load(f)
  for field in ("beta", "pseudo_inputs", "importance_samples"):  # added to the family after MLP runs
    del saved["model"][field]
  with open(f"{old}/config.json", "w") as f:
    json.dump(saved, f)
  before, after = trained.load(workdir), trained.load(old)
  assert after.config.model.beta == ae_configs.base().model.beta
  assert list(after.config.model.hidden) == list(before.config.model.hidden) == [64, 32]  # saved values kept
  np.testing.assert_array_equal(after.encode(test["image"][:8]), before.encode(test["image"][:8]))
