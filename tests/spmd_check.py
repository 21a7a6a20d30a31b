"""Run by test_spmd.py in a subprocess with 8 simulated CPU devices (XLA_FLAGS must be set before
jax starts): trains a few steps of an autoencoder, a GAN and SimCLR on meshes of 1 and of 8
devices and prints, as JSON, the largest parameter difference and the final losses of each."""

import dataclasses
import json
import shutil
import sys

import jax
import ml_collections
import numpy as np

from jaxunsup import pretrain
from jaxunsup.recipes import autoencoder, gan
from jaxunsup import data as data_lib
from jaxunsup.configs import autoencoder as ae_configs, gan as gan_configs, pretrain_finetune as pf_configs
from jaxunsup.errors import UsageError
from jaxunsup.train import loop, parallel


def _data(n=256):
  rng = np.random.default_rng(0)
  return {"image": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
          "label": rng.integers(0, 10, n).astype(np.int32)}


def _configs():
  ae = ae_configs.get_config("smoke")
  ae.model.name = "conv"
  g = gan_configs.get_config("smoke")
  g.train.update(batch_size=16)
  simclr = pretrain.phase_config(pf_configs.get_config("smoke"), "simclr")
  for c in (ae, g, simclr):
    c.train.update(steps=4, log_every=2, eval_every=2, checkpoint_every=2)
  return {"autoencoder": ae, "gan": g, "simclr": simclr}


def _task(family, c, data):
  eval_x = data["image"][:32].astype(np.float32) / 255.0
  spec = data_lib.input_spec("mnist")
  if family == "autoencoder":
    task = autoencoder.make_task(c, spec, eval_x)
  elif family == "gan":
    task = gan.make_task(c, spec, None, "")
  else:
    task = pretrain.make_task(c, spec, eval_x)
  # Only the params are compared: evaluating would compile more and score nothing here.
  return dataclasses.replace(task, evaluate=lambda s, r: {})


def _train(family, c, data, workdir, data_axis, fsdp=1):
  c = c.copy_and_resolve_references()
  c.mesh.update(data=data_axis, fsdp=fsdp)
  return loop.train(c, workdir, _task(family, c, data), data).state


def _max_diff(a, b):
  # leaf by leaf: two GAN states hold distinct (equal) optimizer objects in their static fields
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def main(root):
  data = _data()
  out = {"devices": jax.device_count()}
  ones = {}
  for family, c in _configs().items():
    ones[family] = _train(family, c, data, f"{root}/{family}_1", 1)
    eight = _train(family, c, data, f"{root}/{family}_8", 8)
    out[family] = {"max_param_diff": _max_diff(ones[family], eight)}
  # FSDP: params sharded over 2 devices, batch over all 8
  c = _configs()["autoencoder"]
  one = ones["autoencoder"]
  out["autoencoder_fsdp"] = {"max_param_diff": _max_diff(one, _train("autoencoder", c, data, f"{root}/fsdp_8", 4, 2))}
  mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 4, "fsdp": 2}))
  specs = [s.spec for s in jax.tree.leaves(parallel.state_shardings(mesh, one))]
  out["autoencoder_fsdp"]["sharded_leaves"] = sum("fsdp" in spec for spec in specs)
  out["autoencoder_fsdp"]["leaves"] = len(specs)
  # resume on 8 devices, as after a kill between the step-2 and step-4 checkpoints (a copy of the
  # 8-device run above)
  full = _train("autoencoder", c, data, f"{root}/autoencoder_8", 8)  # finished: restores step 4
  shutil.copytree(f"{root}/autoencoder_8", f"{root}/resume")
  shutil.rmtree(f"{root}/resume/checkpoints/4")
  resumed = _train("autoencoder", c, data, f"{root}/resume", 8)
  out["resume_max_diff"] = _max_diff(full, resumed)
  # bad input: a batch that does not split over the devices
  odd = c.copy_and_resolve_references()
  odd.train.batch_size = 60
  try:
    _train("autoencoder", odd, data, f"{root}/odd", 8)
    out["odd_batch_error"] = None
  except UsageError as e:
    out["odd_batch_error"] = str(e)
  print(json.dumps(out))


if __name__ == "__main__":
  main(sys.argv[1])
