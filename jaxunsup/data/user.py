"""Datasets a user brings: a folder of images or a file of texts, prepared under a name of their own.

`prepare_folder` and `prepare_text` read the source (jaxunsup/data/folder.py, textfile.py), store
it as a TFDS array_record dataset like the built-in ones, and only then write its record,
DATA_DIR/NAME/jaxunsup_dataset.json (spec, source, options). The record is what makes NAME a
dataset: a prepare killed or failing before it leaves nothing registered, and its leftovers are
removed by the next try. Labels are stored as plain integers (-1: unlabelled), so a dataset
without classes needs no special feature; the class names live in the record.
"""

import hashlib
import json
import os
import re
import shutil
import time
import types

import numpy as np
import tensorflow_datasets as tfds

from jaxunsup.data import builder as builder_lib
from jaxunsup.data import folder as folder_lib
from jaxunsup.data import specs
from jaxunsup.data import textfile
from jaxunsup.errors import UsageError

RECORD = "jaxunsup_dataset.json"
VERSION = "1.0.0"
KINDS = ("folder", "text")  # the prepare subcommands, so no dataset may take these names
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def check_new_name(name: str) -> None:
  """UsageError unless `name` can name a user dataset."""
  if not _NAME.fullmatch(name or ""):
    raise UsageError(f"dataset name {name!r} must be lower case letters, digits and _, starting "
                     "with a letter (at most 64)")
  if name in specs.DATASETS + specs.TEXT_DATASETS + KINDS:
    raise UsageError(f"{name!r} is taken by a built-in dataset or command; choose another --name")


def record(name: str, root: str) -> dict | None:
  """The record of user dataset `name` under `root`, or None when there is none."""
  if not _NAME.fullmatch(name or "") or name in specs.DATASETS + specs.TEXT_DATASETS:
    return None
  path = os.path.join(root, name, RECORD)
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    raise UsageError(f"{path} is damaged ({e}); delete {os.path.join(root, name)} and prepare "
                     "it again") from None


def names(root: str) -> list[str]:
  """The user datasets prepared under `root`."""
  if not os.path.isdir(root):
    return []
  return sorted(n for n in os.listdir(root)
                if _NAME.fullmatch(n) and os.path.isfile(os.path.join(root, n, RECORD)))


def image_spec(rec: dict) -> specs.DatasetSpec:
  return specs.DatasetSpec(
      name=rec["name"], shape=tuple(rec["shape"]), num_classes=len(rec["class_names"]),
      class_names=tuple(rec["class_names"]), mirror_symmetric=rec["mirror_symmetric"],
      train_examples=rec["train_examples"])


def text_spec(rec: dict) -> specs.TextSpec:
  return specs.TextSpec(name=rec["name"], num_classes=len(rec["class_names"]),
                        class_names=tuple(rec["class_names"]), splits=specs.SPLITS,
                        unlabelled_split=None)


def _features(rec: dict) -> tfds.features.FeaturesDict:
  label = tfds.features.Tensor(shape=(), dtype=np.int64)
  if rec["kind"] == "text":
    return tfds.features.FeaturesDict({"text": tfds.features.Text(), "label": label})
  return tfds.features.FeaturesDict({
      "image": tfds.features.Tensor(shape=tuple(rec["shape"]), dtype=np.uint8,
                                    encoding=tfds.features.Encoding.BYTES),
      "label": label})


class _Builder(builder_lib.QuietBuilder, skip_registration=True):
  """A user dataset's TFDS builder: `rec` describes it, `splits` (only when building) holds it."""

  VERSION = tfds.core.Version(VERSION)
  RELEASE_NOTES = {str(VERSION): "Prepared by `python -m jaxunsup.data prepare`."}
  rec: dict = {}

  def __init__(self, *, splits=None, **kwargs):
    self._splits = splits
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    info = tfds.core.DatasetInfo(
        builder=self, description=f"A user dataset prepared from {self.rec['source']}.",
        features=_features(self.rec), disable_shuffling=True, metadata=tfds.core.MetadataDict())
    info.metadata["source"] = self.rec["source"]
    return info

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(*arrays) for split, arrays in self._splits.items()}

  def _generate_examples(self, values, labels):
    key = "text" if self.rec["kind"] == "text" else "image"
    for i, (value, label) in enumerate(zip(values, labels)):
      yield i, {key: value, "label": int(label)}


def builder(rec: dict, root: str, splits=None):
  """The TFDS builder of the dataset `rec` describes, under `root`."""
  cls = types.new_class(f"Builder_{rec['name']}", (_Builder,), {"skip_registration": True},
                        lambda ns: ns.update(name=rec["name"], rec=rec))
  return cls(data_dir=root, splits=splits)


def _source_and_options(kind: str, source: str, options: dict) -> dict:
  return {"kind": kind, "source": os.path.abspath(os.path.expanduser(source)), "options": options}


def _remove_leftovers(root: str, name: str) -> None:
  """Deletes what a killed or failed prepare of `name` left: TFDS's version folders (finished or
  `.incomplete`), never anything else in the folder."""
  folder = os.path.join(root, name)
  if not os.path.isdir(folder):
    return
  for entry in os.listdir(folder):
    if entry == VERSION or entry.startswith(f"{VERSION}.incomplete") or entry.startswith(
        f"incomplete.{VERSION}") or entry.startswith(f".{RECORD}."):
      path = os.path.join(folder, entry)
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _existing(root: str, name: str, wanted: dict) -> bool:
  """True when `name` is prepared from the same source and options (nothing to do); UsageError
  when it is prepared from something else (it is never overwritten)."""
  rec = record(name, root)
  if rec is None:
    return False
  have = {k: rec.get(k) for k in wanted}
  if have != wanted:
    raise UsageError(f"{name} is already prepared in {os.path.join(root, name)} from "
                     f"{rec['source']} ({rec['kind']}, {rec['options']}); choose another --name, "
                     "or delete that folder to prepare it again")
  print(f"{name}: already prepared in {os.path.join(root, name)} (from {rec['source']})")
  return True


def fingerprint(splits: dict) -> str:
  """12 hex digits of a sha256 over every split's content, so what is cached for a dataset (its
  evaluation classifier) is never reused for other data prepared later under the same name."""
  digest = hashlib.sha256()
  for split in sorted(splits):
    values, labels = splits[split]
    digest.update(split.encode())
    digest.update(np.ascontiguousarray(labels, np.int64).tobytes())
    if isinstance(values, np.ndarray):
      digest.update(np.ascontiguousarray(values).tobytes())
    else:
      for text in values:
        digest.update(text.encode("utf-8") + b"\0")
  return digest.hexdigest()[:12]


def _nbytes(splits: dict) -> int:
  """About what the splits' records take serialised."""
  return sum(values.nbytes if isinstance(values, np.ndarray) else sum(len(t.encode("utf-8")) for t in values)
             for values, _ in splits.values()) + 64 * sum(len(labels) for _, labels in splits.values())


def _store(rec: dict, root: str, splits: dict, start: float) -> str:
  """Writes the dataset, then its record; returns the dataset's folder."""
  from jaxunsup.train import files  # pylint: disable=g-import-not-at-top
  name = rec["name"]
  rec = {**rec, "fingerprint": fingerprint(splits)}
  _remove_leftovers(root, name)
  b = builder(rec, root, splits)
  # TFDS spills what it writes beyond 1 GB to temporary files through TensorFlow's file API, which
  # is not installed; the data is in memory already, so let its write buffer hold all of it.
  from tensorflow_datasets.core import shuffle  # pylint: disable=g-import-not-at-top
  limit = shuffle.MAX_MEM_BUFFER_SIZE
  shuffle.MAX_MEM_BUFFER_SIZE = max(limit, 2 * _nbytes(splits))
  try:
    tfds.display_progress_bar(False)
    b.download_and_prepare(file_format="array_record")
  except BaseException:  # a failure or an interrupt: leave nothing half-written behind
    _remove_leftovers(root, name)
    raise
  finally:
    shuffle.MAX_MEM_BUFFER_SIZE = limit
  files.write_json(os.path.join(root, name, RECORD), rec)
  classes = f"{len(rec['class_names'])} classes" if rec["class_names"] else "unlabelled"
  print(f"{name}: prepared in {b.data_dir} from {rec['source']}: {rec['train_examples']} train, "
        f"{rec['test_examples']} test ({rec['split_from']}), {classes}"
        f" ({time.perf_counter() - start:.1f} s)")
  return os.fspath(b.data_dir)


def prepare_folder(directory: str, name: str, root: str, size: int = 0, channels: int = 0,
                   test_fraction: float = 0.1, mirror_symmetric: bool = False) -> str:
  """Prepares a folder of images as dataset `name`; returns its folder (see folder.py for layouts)."""
  check_new_name(name)
  options = {"size": size, "channels": channels, "test_fraction": test_fraction,
             "mirror_symmetric": mirror_symmetric}
  wanted = _source_and_options("image", directory, options)
  if _existing(root, name, wanted):
    return os.path.join(root, name, VERSION)
  start = time.perf_counter()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  with tqdm(total=folder_lib.count(directory), desc=f"reading {directory}", unit="image",
            leave=False, disable=None) as bar:  # a bar on terminals only
    read = folder_lib.read(directory, size, channels, test_fraction, progress=bar)
  splits = read["splits"]
  rec = {**wanted, "name": name, "shape": list(splits["train"][0].shape[1:]),
         "class_names": list(read["class_names"]), "mirror_symmetric": mirror_symmetric,
         "train_examples": len(splits["train"][1]), "test_examples": len(splits["test"][1]),
         "split_from": read["split_from"], "skipped_files": read["skipped"]}
  return _store(rec, root, splits, start)


def prepare_text(path: str, name: str, root: str, test_fraction: float = 0.1) -> str:
  """Prepares a CSV or JSONL file of texts as dataset `name`; returns its folder."""
  check_new_name(name)
  wanted = _source_and_options("text", path, {"test_fraction": test_fraction})
  if _existing(root, name, wanted):
    return os.path.join(root, name, VERSION)
  start = time.perf_counter()
  read = textfile.read(path, test_fraction)
  splits = read["splits"]
  rec = {**wanted, "name": name, "class_names": list(read["class_names"]),
         "train_examples": len(splits["train"][1]), "test_examples": len(splits["test"][1]),
         "split_from": read["split_from"]}
  return _store(rec, root, splits, start)
