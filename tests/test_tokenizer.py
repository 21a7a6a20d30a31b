"""The word tokenizer: build, encode/decode round trip, unknown words, truncation, save/load."""

import numpy as np
import pytest

from jaxunsup.errors import UsageError
from jaxunsup.text import tokenizer
from jaxunsup.text.tokenizer import BOS, EOS, PAD, UNK

TEXTS = ["The car drives itself!", "the car, the road", "See https://x.co/abc now", "road road car"]


def test_words_lowercase_split_punctuation_and_mark_urls():
  assert tokenizer.words("Self-driving CARS, see http://t.co/Ab1 #wow") == [
      "self", "-", "driving", "cars", ",", "see", "<url>", "#", "wow"]


def test_build_ranks_by_count_then_word():
  tok = tokenizer.Tokenizer.build(TEXTS, vocab_size=7, max_len=8)
  # the: 3, car: 3, road: 3 (tie broken alphabetically) -- only three places after the specials.
  assert tok.vocab == tokenizer.SPECIALS + ("car", "road", "the")
  assert tokenizer.Tokenizer.build(TEXTS[::-1], vocab_size=7, max_len=8) == tok


def test_round_trip_unknown_truncation_and_empty_text():
  tok = tokenizer.Tokenizer.build(TEXTS, vocab_size=100, max_len=6)
  out = tok.encode(["the car drives itself", "zebra car", "", "the car drives itself !"])
  ids, lengths = out["ids"], out["lengths"]
  assert ids.shape == (4, 6) and ids.dtype == np.int32
  assert tok.decode(ids[0]) == "the car drives itself" and lengths[0] == 6
  assert ids[1, :4].tolist() == [BOS, UNK, tok.vocab.index("car"), EOS] and (ids[1, 4:] == PAD).all()
  assert tok.decode(ids[1]) == "<unk> car"
  assert ids[2, :2].tolist() == [BOS, EOS] and lengths[2] == 2 and tok.decode(ids[2]) == ""
  # Five words do not fit in 6 - 2 places: the first four are kept.
  assert tok.decode(ids[3]) == "the car drives itself" and out["truncated"] == 1
  assert out["unknown"] == pytest.approx(1 / 10)  # of the 10 words kept


def test_save_load_and_fingerprint(tmp_path):
  tok = tokenizer.Tokenizer.build(TEXTS, vocab_size=20, max_len=10)
  tok.save(str(tmp_path))
  again = tokenizer.load(str(tmp_path))
  assert again == tok and again.fingerprint() == tok.fingerprint()
  assert tokenizer.Tokenizer.build(TEXTS, vocab_size=20, max_len=12).fingerprint() != tok.fingerprint()


@pytest.mark.parametrize("content,message", [
    (None, "has no tokenizer.json"),
    ("{not json", "is not a tokenizer file"),
    ('{"scheme": "bpe", "max_len": 5, "vocab": []}', "unknown scheme"),
    ('{"scheme": "word", "max_len": 5, "vocab": ["a", "b"]}', "must start with the special tokens"),
])
def test_load_refuses_bad_files(tmp_path, content, message):
  if content is not None:
    (tmp_path / tokenizer.FILE).write_text(content)
  with pytest.raises(UsageError, match=message):
    tokenizer.load(str(tmp_path))


def test_bad_sizes_are_refused():
  with pytest.raises(UsageError, match="vocab_size"):
    tokenizer.Tokenizer.build(TEXTS, vocab_size=4, max_len=8)
  with pytest.raises(UsageError, match="max_len"):
    tokenizer.Tokenizer.build(TEXTS, vocab_size=10, max_len=2)
