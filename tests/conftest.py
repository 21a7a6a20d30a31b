"""Shared test helpers: a synthetic CIFAR-10 (the real one cannot be downloaded here), the
per-cell accuracies of a label sweep's summary, and an objective's metrics after a few steps."""

import io
import tarfile

import jax
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.data import cifar


def write_cifar_archive(path, per_file: int, seed: int = 0) -> dict:
  """Writes a cifar-10-binary.tar.gz laid out like the real one; returns {split: (images, labels)}."""
  rng = np.random.default_rng(seed)
  arrays = {}
  with tarfile.open(path, "w:gz") as tar:
    for split, names in cifar.FILES.items():
      parts = []
      for name in names:
        images = rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8)
        labels = (np.arange(per_file) % 10).astype(np.uint8)
        rng.shuffle(labels)
        # One label byte, then the red, green and blue planes.
        rows = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(per_file, -1)], 1)
        member = tarfile.TarInfo(f"{cifar.MEMBER_DIR}/{name}")
        member.size = rows.nbytes
        tar.addfile(member, io.BytesIO(rows.tobytes()))
        parts.append((images, labels))
      arrays[split] = tuple(np.concatenate(p) for p in zip(*parts))
  return arrays


def cell_accuracies(summary: dict) -> dict:
  """{(objective, evaluation, labels per class): per-seed accuracies} of a sweep's summary."""
  return {(c["objective"], c["evaluation"], c["labels_per_class"]): c["accuracies"] for c in summary["cells"]}


def metrics_after_steps(parts, batch: dict, steps: int = 3) -> dict:
  """The metrics of the `steps`-th jitted step of an objective's parts from init(key 0) on one
  batch, with key i at step i: what the pinned-metrics tests compare."""
  state, step = parts.init(jax.random.key(0)), jax.jit(parts.train_step)
  for i in range(steps):
    state, metrics = step(state, batch, jax.random.key(i))
  return {k: float(v) for k, v in metrics.items()}


@pytest.fixture(scope="session")
def fake_cifar10(tmp_path_factory):
  """(data_dir, arrays): a synthetic CIFAR-10 (500 train, 100 test) prepared in its own data_dir."""
  root = tmp_path_factory.mktemp("cifar10")
  (root / "src").mkdir()
  arrays = write_cifar_archive(root / "src" / cifar.ARCHIVE, per_file=100)
  data.prepare("cifar10", data_dir=str(root / "data"), source_dir=str(root / "src"), verify_hash=False)
  return str(root / "data"), arrays
