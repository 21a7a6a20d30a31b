"""Reader for the IDX files in which MNIST and Fashion-MNIST are distributed."""

import gzip
import math
import os
import zlib

import numpy as np

from jaxunsup.errors import UsageError

# Canonical base names; each may also carry a `.gz` suffix.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08  # IDX type code for unsigned bytes, the only type these sets use


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
  """Parses the bytes of an uncompressed IDX file of unsigned bytes."""
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise UsageError(f"{name}: not an IDX file (bad magic number)")
  if data[2] != _UBYTE:
    raise UsageError(f"{name}: IDX type 0x{data[2]:02x} is not unsigned bytes")
  ndim = data[3]
  header = 4 + 4 * ndim
  if ndim == 0 or len(data) < header:
    raise UsageError(f"{name}: truncated IDX header")
  shape = tuple(
      int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  size = math.prod(shape)
  if len(data) - header != size:
    raise UsageError(
        f"{name}: header says shape {shape} ({size} bytes) but the file holds"
        f" {len(data) - header} bytes of data")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Reads an IDX file of unsigned bytes, gzip-compressed or not."""
  path = os.fspath(path)
  try:
    with open(path, "rb") as f:
      data = f.read()
    # Sniff the content rather than trust the suffix: people gunzip and keep
    # the name, or the reverse.
    if data[:2] == _GZIP_MAGIC:
      data = gzip.decompress(data)
  except (OSError, EOFError, zlib.error) as e:
    raise UsageError(f"{path}: cannot read IDX file ({e})") from e
  return parse_idx(data, name=path)


def find_idx_files(directory: str | os.PathLike) -> tuple[dict, list[str]]:
  """Finds the IDX files in a dir: ({split: (images, labels)}, missing)."""
  found, missing = {}, []
  for split, names in IDX_FILES.items():
    paths = []
    for base in names:
      candidates = [os.path.join(directory, base + s) for s in ("", ".gz")]
      path = next((p for p in candidates if os.path.isfile(p)), None)
      if path is None:
        missing.append(base + "[.gz]")
      paths.append(path)
    found[split] = tuple(paths)
  return found, missing


def read_idx_pair(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split's images (with a channel axis added) and labels."""
  images, labels = read_idx(images_path), read_idx(labels_path)
  if images.ndim != 3:
    raise UsageError(f"{images_path}: expected 3 dimensions, got {images.ndim}")
  if labels.ndim != 1:
    raise UsageError(f"{labels_path}: expected 1 dimension, got {labels.ndim}")
  return images[..., None], labels
