"""Image records decoded into arrays, whole splits (`load`) or a batch at a time (`SplitReader`)."""

import numpy as np

from jaxunsup.data import specs
from jaxunsup.errors import UsageError


# Records decoded per read of the source: a whole split's raw records would double its memory.
CHUNK = 8192


class SplitReader:
  """Random access to a prepared image split: `read(indices)` decodes just those records, as
  `load` decodes all of them. It pickles without its open files, so the input pipeline's worker
  processes each open their own."""

  def __init__(self, name: str, split: str, data_dir: str | None, spec: specs.DatasetSpec, size: int,
               keys: tuple | None = None):
    self.name, self.split, self.data_dir, self.spec, self._size = name, split, data_dir, spec, size
    self.keys = keys  # the arrays `read` returns; None: all of them
    self._source = None

  def __len__(self) -> int:
    return self._size

  def __getstate__(self) -> dict:
    return {**self.__dict__, "_source": None}

  def only(self, *keys: str) -> "SplitReader":
    """The same split, read as just `keys` (pretraining reads images without their labels)."""
    return SplitReader(self.name, self.split, self.data_dir, self.spec, self._size, keys)

  def labels(self) -> np.ndarray:
    """int32 (N,): every record's label, decoded a chunk at a time (the images are not kept)."""
    labels = np.empty(len(self), np.int32)
    for start, part in self._chunks(range(len(self))):
      labels[start:start + len(part["label"])] = part["label"]
    return labels

  def read(self, indices) -> dict:
    """{"image": uint8 (B, H, W, C), "label": int32 (B,)[, "factors"]} of records `indices`, or
    just the reader's `keys`."""
    out = self._read(indices)
    return out if self.keys is None else {k: out[k] for k in self.keys}

  def _read(self, indices) -> dict:
    out = None
    for start, part in self._chunks(indices):
      if len(indices) <= CHUNK:
        return part
      if out is None:
        out = {k: np.empty((len(indices), *v.shape[1:]), v.dtype) for k, v in part.items()}
      for k, v in part.items():
        out[k][start:start + len(v)] = v
    return out

  def _chunks(self, indices):
    """Yields (offset into `indices`, arrays) a chunk's raw records at a time, not the split's."""
    from jaxunsup import data  # pylint: disable=g-import-not-at-top  (data imports this module)
    if self._source is None:
      self._source, self._where = data._data_source(self.name, self.split, self.data_dir)[1:]  # pylint: disable=protected-access
    indices = [int(i) for i in indices]
    for start in range(0, max(len(indices), 1), CHUNK):
      try:
        records = self._source.__getitems__(indices[start:start + CHUNK])
      except Exception as e:  # pylint: disable=broad-except
        raise data._damaged(self.name, self.split, self._where, self.data_dir, e) from None  # pylint: disable=protected-access
      yield start, decode_image_records(records, self.spec, self._where)


def decode_image_records(records, dataset: specs.DatasetSpec, where) -> dict:
  """Decodes raw tf.Example records of (image bytes, label[, factor bytes]) into arrays."""
  # TFDS's generic per-example decoding costs about 30 us of Python per record
  # (2 s for the train split); parsing the protos directly is 3x faster.
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_datasets.proto import tf_example_pb2
  parse = tf_example_pb2.Example.FromString
  factors = []
  size = int(np.prod(dataset.shape))
  pixels = np.empty((len(records), size), np.uint8)  # filled in place: no joined copy
  labels = np.empty(len(records), np.int32)
  try:
    for i, record in enumerate(records):
      feature = parse(record).features.feature
      image = feature["image"].bytes_list.value[0]
      if len(image) != size:
        raise UsageError(f"{where} holds images of the wrong size; delete it and prepare again")
      pixels[i] = np.frombuffer(image, np.uint8)
      labels[i] = feature["label"].int64_list.value[0]
      if dataset.factors:
        factors.append(feature["factors"].bytes_list.value[0])
  except (IndexError, ValueError) as e:
    raise UsageError(f"{where} holds malformed records; delete it and"
                     " prepare again") from e
  out = {"image": pixels.reshape(-1, *dataset.shape), "label": labels}
  if dataset.factors:
    indices = b"".join(factors)
    if len(indices) != len(records) * len(dataset.factors):
      raise UsageError(f"{where} holds factors of the wrong size; delete it and prepare again")
    out["factors"] = np.frombuffer(indices, np.uint8).reshape(len(records), -1).astype(np.int32)
  return out
