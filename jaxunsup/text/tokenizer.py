"""A word-level tokenizer built from a training split, saved beside the run that used it.

Text is lower-cased, web addresses become one `<url>` word, and the rest splits into runs of
word characters and single punctuation marks. The vocabulary is the `vocab_size - 4` most frequent
words of the texts it is built from (ties by the word itself, so the build is deterministic),
after the four special tokens: `<pad>` 0, `<unk>` 1, `<bos>` 2, `<eos>` 3.

A text encodes as `<bos> w1 ... wk <eos>`, padded with `<pad>` to `max_len`: a text of more than
`max_len - 2` words keeps its first `max_len - 2` (truncation is counted by `encode`). An empty
text encodes as `<bos> <eos>`, so every sequence has a length of at least 2.
"""

import collections
import dataclasses
import hashlib
import json
import os
import re

import numpy as np

from jaxunsup.errors import UsageError
from jaxunsup.train import files

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
FILE = "tokenizer.json"
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORD = re.compile(r"<url>|\w+|[^\w\s]")


def words(text: str) -> list[str]:
  """The word sequence of one text."""
  return _WORD.findall(_URL.sub(" <url> ", text.lower()))


@dataclasses.dataclass(frozen=True)
class Tokenizer:
  """Maps texts to fixed-length id arrays and back; `vocab` starts with SPECIALS."""
  vocab: tuple[str, ...]
  max_len: int

  def __post_init__(self):
    if tuple(self.vocab[:len(SPECIALS)]) != SPECIALS or len(set(self.vocab)) != len(self.vocab):
      raise UsageError("a tokenizer vocabulary must start with the special tokens "
                       f"{', '.join(SPECIALS)} and hold each word once")
    if self.max_len < 3:
      raise UsageError(f"tokenizer max_len must be at least 3 (<bos>, a word, <eos>), got {self.max_len}")
    object.__setattr__(self, "_ids", {w: i for i, w in enumerate(self.vocab)})

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  @classmethod
  def build(cls, texts, vocab_size: int, max_len: int) -> "Tokenizer":
    """The tokenizer of the `vocab_size - 4` most frequent words in `texts`."""
    if vocab_size <= len(SPECIALS):
      raise UsageError(f"vocab_size must exceed the {len(SPECIALS)} special tokens, got {vocab_size}")
    counts = collections.Counter(w for text in texts for w in words(text))
    for special in SPECIALS:
      counts.pop(special, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return cls(SPECIALS + tuple(w for w, _ in ranked[:vocab_size - len(SPECIALS)]), max_len)

  def encode(self, texts) -> dict:
    """{"ids": int32 (N, max_len), "lengths": int32 (N,), "truncated": texts cut short,
    "unknown": fraction of word tokens outside the vocabulary}."""
    ids = np.full((len(texts), self.max_len), PAD, np.int32)
    lengths = np.empty(len(texts), np.int32)
    truncated = unknown = total = 0
    keep = self.max_len - 2
    for i, text in enumerate(texts):
      ws = words(text)
      truncated += len(ws) > keep
      row = [self._ids.get(w, UNK) for w in ws[:keep]]
      unknown += row.count(UNK)
      total += len(row)
      row = [BOS, *row, EOS]
      ids[i, :len(row)] = row
      lengths[i] = len(row)
    return {"ids": ids, "lengths": lengths, "truncated": truncated,
            "unknown": unknown / max(total, 1)}

  def decode(self, ids) -> str:
    """The words of one id sequence, from after `<bos>` up to `<eos>` or padding."""
    out = []
    for i in np.asarray(ids).tolist():
      if i in (EOS, PAD):
        break
      if i != BOS:
        out.append(self.vocab[i] if 0 <= i < len(self.vocab) else "<unk>")
    return " ".join(out)

  def to_json(self) -> str:
    return json.dumps({"scheme": "word", "max_len": self.max_len, "vocab": list(self.vocab)})

  def fingerprint(self) -> str:
    """A short hash of the vocabulary and length, recorded with checkpoints that use it."""
    return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

  def save(self, directory: str) -> str:
    path = os.path.join(directory, FILE)
    files.write_text(path, self.to_json())
    return path


def load(directory: str) -> Tokenizer:
  """The tokenizer saved in `directory`; UsageError if there is none or it is malformed."""
  path = os.path.join(directory, FILE)
  try:
    with open(path) as f:
      blob = json.load(f)
    if blob.get("scheme") != "word":
      raise ValueError(f"unknown scheme {blob.get('scheme')!r}")
    return Tokenizer(tuple(blob["vocab"]), int(blob["max_len"]))
  except FileNotFoundError:
    raise UsageError(f"{directory} has no {FILE}") from None
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise UsageError(f"{path} is not a tokenizer file ({e})") from e
