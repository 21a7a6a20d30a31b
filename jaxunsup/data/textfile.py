"""A user's texts, from a CSV (a header row naming the columns) or a JSONL file (one object a line).

Fields: `text` (required), `label` (optional: every row has one, or none does) and `split`
(optional: train or test in every row). Labels are class names, ordered as numbers when all are
integers, else as strings. Without a split field, a seeded draw of `test_fraction` of each class
is the test split. Unlabelled texts get the label -1.
"""

import csv
import io
import json

import numpy as np

from jaxunsup.data import folder
from jaxunsup.errors import UsageError


def _rows(path: str) -> list[tuple[int, dict]]:
  """(line or row number, fields) of every record; UsageError on an unreadable file."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise UsageError(f"cannot read {path} ({e.strerror})") from None
  try:
    content = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise UsageError(f"{path} is not UTF-8 text (byte {e.start})") from None
  if path.lower().endswith((".jsonl", ".json")):
    rows = []
    for number, line in enumerate(content.splitlines(), start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise UsageError(f"{path} line {number}: not JSON ({e.msg})") from None
      if not isinstance(record, dict):
        raise UsageError(f"{path} line {number}: expected an object with a text field")
      rows.append((number, record))
    return rows
  if not path.lower().endswith(".csv"):
    raise UsageError(f"{path}: give a .csv (with a header row) or a .jsonl file")
  reader = csv.reader(io.StringIO(content))
  header = next(reader, None) or []
  rows = []
  for number, row in enumerate(reader, start=2):
    if not row:
      continue
    if len(row) != len(header):
      raise UsageError(f"{path} row {number}: {len(row)} fields, the header names {len(header)}")
    rows.append((number, dict(zip(header, row))))
  return rows


def _value(record: dict, key: str):
  """A field as a stripped string, or None when it is absent or empty."""
  value = record.get(key)
  if value is None:
    return None
  value = str(value).strip()
  return value or None


def read(path: str, test_fraction: float = 0.1) -> dict:
  """The file as {"splits": {split: (list of str, int labels (N,))}, "class_names": tuple (empty
  when unlabelled), "split_from": "the split field" or "a seeded draw"}."""
  if not 0 < test_fraction < 1:
    raise UsageError(f"test_fraction must be in (0, 1), got {test_fraction}")
  rows = _rows(path)
  if not rows:
    raise UsageError(f"{path} holds no rows")
  texts, names, splits = [], [], []
  for number, record in rows:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
      raise UsageError(f"{path} row {number}: no text field (or it is empty)")
    texts.append(text)
    names.append(_value(record, "label"))
    splits.append(_value(record, "split"))
  missing = [number for (number, _), name in zip(rows, names) if name is None]
  if missing and len(missing) < len(rows):
    raise UsageError(f"{path}: {len(missing)} of {len(rows)} rows have no label (row {missing[0]} "
                     "first); label every row, or none for unlabelled texts")
  class_names = ()
  if not missing:
    distinct = set(names)
    numeric = all(n.lstrip("-").isdigit() for n in distinct)
    class_names = tuple(sorted(distinct, key=int if numeric else str))
  labels = np.asarray([class_names.index(n) if n is not None else -1 for n in names], np.int64)
  given = [s for s in splits if s is not None]
  if given:
    bad = [(number, s) for (number, _), s in zip(rows, splits) if s not in ("train", "test")]
    if bad:
      raise UsageError(f"{path} row {bad[0][0]}: split {bad[0][1]!r}; every row's split must be "
                       "train or test (or leave the field out everywhere)")
    test = np.asarray([s == "test" for s in splits])
    if test.all() or not test.any():
      raise UsageError(f"{path}: the split field puts every row in one split")
  else:
    test = folder.split_mask(labels, test_fraction, f"{len(rows)} rows")
  pick = lambda mask: ([t for t, m in zip(texts, mask) if m], labels[mask])
  return {"splits": {"train": pick(~test), "test": pick(test)}, "class_names": class_names,
          "split_from": "the split field" if given else "a seeded draw"}
