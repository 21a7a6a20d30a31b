"""The evaluation classifier of a dataset: a small convnet whose features score generated samples.

Inception weights cannot be fetched offline, and Inception features of 28x28 digits say little,
so each dataset gets its own classifier, trained once with a fixed seed and recipe (in a child
process, without the XLA flags that change its floats, see `training_env`) and cached in
the data dir as `evaluators/{dataset}-{RECIPE}-{sha256 of the weights, 12 hex}.msgpack` (a user
dataset's name carries its content fingerprint, see `data.identity`). A file
whose contents do not match its name is ignored and the classifier is trained again. Scores made
with it are comparable inside this project only.
"""

import dataclasses
import functools
import glob
import hashlib
import os
import subprocess
import sys

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxunsup import data as data_lib
from jaxunsup.errors import UsageError
from jaxunsup.data.specs import model_inputs
from jaxunsup.models.layers import stage_widths
from jaxunsup.train import files, loop
from jaxunsup.train.state import TrainState, init_variables

# Bump when the architecture or the training recipe below changes.
RECIPE = "evalnet-v1"
SEED, BATCH, EPOCHS, LEARNING_RATE = 0, 128, 3, 1e-3


class EvalNet(nn.Module):
  """Two stride-2 convs (more for images larger than 32 pixels, see `stage_widths`) and a 128-unit
  ReLU layer (the features), then the class logits."""
  num_classes: int

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> tuple:
    h = x_BxHxWxC
    for width in stage_widths((32, 64), max(h.shape[1:3])):
      h = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2))(h))
    features = nn.relu(nn.Dense(128)(h.reshape((h.shape[0], -1))))
    return nn.Dense(self.num_classes)(features), features


@dataclasses.dataclass
class Evaluator:
  """A trained EvalNet: features and predicted labels for any uint8 or [0, 1] images."""
  dataset: str
  params: dict
  num_classes: int
  path: str

  def apply(self, images_NxHxWxC: np.ndarray, chunk: int = 1000) -> tuple:
    """(features N x 128 float32, predicted labels N)."""
    x = np.asarray(images_NxHxWxC)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    feats, preds = [], []
    for i in range(0, len(x), chunk):
      logits, f = _forward(self.num_classes, self.params, jnp.asarray(x[i:i + chunk], jnp.float32) / scale)
      feats.append(np.asarray(f))
      preds.append(np.asarray(jnp.argmax(logits, -1)))
    return np.concatenate(feats), np.concatenate(preds)


@functools.partial(jax.jit, static_argnums=0)
def _forward(num_classes, params, x):
  return EvalNet(num_classes).apply({"params": params}, x)


def _train(train: dict, num_classes: int) -> dict:
  """Trains EvalNet with the fixed recipe; the same data gives bit-identical weights."""
  net = EvalNet(num_classes)
  root = jax.random.key(SEED)
  params = init_variables(net, jax.random.fold_in(root, 0), jnp.zeros((1, *train["image"].shape[1:])))["params"]
  state = TrainState.create(apply_fn=net.apply, params=params, tx=optax.adam(LEARNING_RATE))

  def train_step(state, batch, rng):
    del rng

    def loss_fn(params):
      logits, _ = state.apply_fn({"params": params}, batch["image"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), {"loss": loss}

  run_segment = loop.make_segment_runner(train_step, BATCH, prepare=model_inputs)
  n = len(train["image"])
  if n < BATCH:
    raise UsageError(f"the evaluation classifier trains on batches of {BATCH} but the train split "
                     f"has only {n} examples")
  data = {"image": jnp.asarray(train["image"]), "label": jnp.asarray(train["label"])}
  steps_per_epoch = n // BATCH
  for epoch in range(EPOCHS):
    perm = loop.epoch_permutation(jax.random.fold_in(root, 1), epoch, n)
    start = epoch * steps_per_epoch
    state, _ = run_segment(state, data, perm, jax.random.fold_in(root, 2), start, start + steps_per_epoch)
  return jax.device_get(state.params)


def _cache_glob(data_dir: str, dataset: str) -> str:
  return os.path.join(data_dir, "evaluators", f"{data_lib.identity(dataset, data_dir)}-{RECIPE}-*.msgpack")


def _cached(dataset: str, data_dir: str, num_classes: int) -> Evaluator | None:
  """The cached evaluator whose file matches its name, or None."""
  for path in sorted(glob.glob(_cache_glob(data_dir, dataset))):
    with open(path, "rb") as f:
      blob = f.read()
    if path.endswith(f"-{hashlib.sha256(blob).hexdigest()[:12]}.msgpack"):
      # shapes only: the file's values replace the template's
      template = jax.eval_shape(EvalNet(num_classes).init, jax.random.key(0),
                                jnp.zeros((1, *data_lib.spec(dataset).shape)))
      return Evaluator(dataset, flax.serialization.from_bytes(template["params"], blob), num_classes, path)
  return None


def load_or_train(dataset: str, data_dir: str | None = None, verbose: bool = True) -> Evaluator:
  """The cached evaluator of `dataset`, trained (about 70 s on 2 CPU cores) when missing.

  Training holds a lock in the cache folder: processes that need the same evaluator at once (test
  workers, the runs of a sweep) wait for the first one and read its file instead of all training.
  """
  data_dir = data_dir or data_lib.default_data_dir()
  num_classes = data_lib.num_classes(dataset)
  found = _cached(dataset, data_dir, num_classes)
  if found is not None:
    return found
  with files.lock(os.path.join(data_dir, "evaluators", f"{dataset}.lock"), wait=True):
    found = _cached(dataset, data_dir, num_classes)  # trained by another process meanwhile
    if found is not None:
      return found
    if verbose:
      print(f"training the {dataset} evaluation classifier ({RECIPE}); it is cached for later runs")
    data_lib.prepare(dataset, data_dir)
    _train_elsewhere(dataset, data_dir)
    found = _cached(dataset, data_dir, num_classes)
    if found is None:
      raise RuntimeError(f"the {dataset} evaluator was trained but {_cache_glob(data_dir, dataset)} does not hold it")
    return found


# XLA flags that change the floats of training. The tests compile at optimisation level 0 for
# speed, and an evaluator trained there came out with other weights than one trained by an
# experiment (another file, other FIDs): which one a cache folder held depended on who trained
# first. Training runs in a child process without them.
_RESULT_FLAGS = ("--xla_backend_optimization_level",)


def training_env(environ=os.environ) -> dict:
  """`environ` without the XLA flags that change the evaluator's weights."""
  kept = [f for f in environ.get("XLA_FLAGS", "").split() if not f.startswith(_RESULT_FLAGS)]
  return {**environ, "XLA_FLAGS": " ".join(kept)}


def _train_elsewhere(dataset: str, data_dir: str) -> None:
  """Trains and writes the evaluator in a child process under `training_env`."""
  proc = subprocess.run([sys.executable, "-m", "jaxunsup.eval.classifier", dataset, data_dir],
                        env=training_env(), capture_output=True, text=True)
  if proc.returncode != 0:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    raise RuntimeError(f"training the {dataset} evaluator failed: {lines[-1] if lines else proc.returncode}")


def train_and_write(dataset: str, data_dir: str) -> str:
  """Trains the evaluator of a prepared `dataset` and writes it to the cache; returns its path."""
  params = _train(data_lib.load(dataset, "train", data_dir), data_lib.num_classes(dataset))
  blob = flax.serialization.to_bytes(params)
  path = _cache_glob(data_dir, dataset).replace("*", hashlib.sha256(blob).hexdigest()[:12])
  files.write_bytes(path, blob)
  return path


if __name__ == "__main__":  # the child of _train_elsewhere: python -m jaxunsup.eval.classifier DATASET DATA_DIR
  train_and_write(sys.argv[1], sys.argv[2])
