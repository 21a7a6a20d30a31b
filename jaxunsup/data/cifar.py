"""Reader for CIFAR-10's binary distribution, `cifar-10-binary.tar.gz`.

Each `.bin` file is a run of 3073-byte records: one label byte, then the 32x32 red, green and
blue planes. Training is data_batch_1..5 in that order, test is test_batch (the order TFDS's
own cifar10 builder reads them in).
"""

import os
import tarfile

import numpy as np

from jaxunsup.errors import UsageError

ARCHIVE = "cifar-10-binary.tar.gz"
MEMBER_DIR = "cifar-10-batches-bin"
FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
_SIDE = 32
_RECORD = 1 + _SIDE * _SIDE * 3


def parse_batch(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
  """Parses one `.bin` file into (images uint8 (N, 32, 32, 3), labels uint8 (N,))."""
  if not data or len(data) % _RECORD:
    raise UsageError(f"{name}: {len(data)} bytes is not a whole number of {_RECORD}-byte records")
  rows = np.frombuffer(data, np.uint8).reshape(-1, _RECORD)
  planes = rows[:, 1:].reshape(-1, 3, _SIDE, _SIDE)
  return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), rows[:, 0].copy()


def _join(parts: list) -> tuple[np.ndarray, np.ndarray]:
  images, labels = zip(*parts)
  return np.concatenate(images), np.concatenate(labels)


def read_archive(path: str) -> dict:
  """Reads both splits from a cifar-10-binary.tar.gz (or an uncompressed tar of it)."""
  try:
    with tarfile.open(path) as tar:
      members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
      splits = {}
      for split, names in FILES.items():
        missing = [n for n in names if n not in members]
        if missing:
          raise UsageError(f"{path} lacks {', '.join(missing)}")
        splits[split] = _join([parse_batch(tar.extractfile(members[n]).read(), f"{path}:{n}")
                               for n in names])
      return splits
  except (OSError, EOFError, tarfile.TarError) as e:
    raise UsageError(f"{path} is not a readable tar archive ({e}); delete it and retry") from e


def find_batches(directory: str) -> tuple[str | None, list[str]]:
  """Where CIFAR-10 lies in `directory`: (the archive or the folder of .bin files, or None;
  the files missing)."""
  archive = os.path.join(directory, ARCHIVE)
  if os.path.isfile(archive):
    return archive, []
  for folder in (directory, os.path.join(directory, MEMBER_DIR)):
    names = [n for split in FILES.values() for n in split]
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if not missing:
      return folder, []
  return None, [ARCHIVE] + missing


def read_batches_dir(folder: str) -> dict:
  """Reads both splits from a folder holding the six extracted `.bin` files."""
  def read(name):
    path = os.path.join(folder, name)
    with open(path, "rb") as f:
      return parse_batch(f.read(), path)
  return {split: _join([read(n) for n in names]) for split, names in FILES.items()}
