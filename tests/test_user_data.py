"""Users' own data: folders of images and files of texts prepared under their own names, read back,
refused in one line when bad, and trained on by the experiments."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_script
from jaxunsup import data
from jaxunsup.data import __main__ as cli
from jaxunsup.data import user
from jaxunsup.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _save(path, value, size=(12, 10), mode="L", fmt=None):
  """A constant image of `value` (an int, or an RGB triple) at `path`."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new(mode, size, value).save(path, format=fmt)


def labelled_folder(root, per_class=10, classes=("b_dog", "a_cat"), sizes=((12, 10), (20, 16))):
  """CLASS/i.png|jpg images, each a constant grey that encodes its class and index."""
  for c, name in enumerate(classes):
    for i in range(per_class):
      ext = "png" if i % 2 else "jpg"
      _save(os.path.join(root, name, f"{i:02d}.{ext}"), 100 * c + 5 * i, size=sizes[i % len(sizes)])
  return root


def prepare(argv, capsys=None):
  code = cli.main(["prepare", *argv])
  err = capsys.readouterr().err if capsys else ""
  return code, err


def test_labelled_folder_round_trip(tmp_path, capsys):
  src = labelled_folder(str(tmp_path / "pets"))
  with open(os.path.join(src, "notes.txt"), "w") as f:
    f.write("not an image")
  root = str(tmp_path / "data")
  code, err = prepare(["folder", src, "--name", "pets", "--size", "8", "--data_dir", root], capsys)
  assert code == 0, err
  rec = user.record("pets", root)
  assert rec["class_names"] == ["a_cat", "b_dog"]  # sorted folder names
  assert rec["shape"] == [8, 8, 1] and rec["skipped_files"] == 1
  assert (rec["train_examples"], rec["test_examples"]) == (18, 2)  # 10 % of each class
  spec = data.spec("pets", root)
  assert spec.num_classes == 2 and spec.class_names == ("a_cat", "b_dog") and not spec.mirror_symmetric
  train, test = data.load("pets", "train", root), data.load("pets", "test", root)
  assert train["image"].shape == (18, 8, 8, 1) and train["image"].dtype == np.uint8
  assert np.bincount(test["label"]).tolist() == [1, 1]
  # Each constant image keeps its grey (JPEG may move it by a level or two) and its class.
  for split in (train, test):
    grey = split["image"].reshape(len(split["label"]), -1)
    assert np.ptp(grey, axis=1).max() <= 2
    # a_cat, written second (greys 100+), is class 0: classes go by folder name, not by listing.
    assert ((grey[:, 0] >= 100) == (split["label"] == 0)).all()
  # Every source image lands in exactly one split.
  seen = sorted(np.concatenate([train["image"][:, 0, 0, 0], test["image"][:, 0, 0, 0]]).astype(int))
  assert len(seen) == 20


def test_same_command_is_a_no_op_and_other_data_never_overwrites(tmp_path, capsys):
  src = labelled_folder(str(tmp_path / "pets"), sizes=((9, 9),))
  root = str(tmp_path / "data")
  assert prepare(["folder", src, "--name", "pets", "--data_dir", root], capsys)[0] == 0
  before = data.load("pets", "train", root)["image"].copy()
  code, _ = prepare(["folder", src, "--name", "pets", "--data_dir", root], capsys)
  assert code == 0
  code, err = prepare(["folder", src, "--name", "pets", "--size", "4", "--data_dir", root], capsys)
  assert code == 2 and "already prepared" in err and len(err.strip().splitlines()) == 1
  np.testing.assert_array_equal(data.load("pets", "train", root)["image"], before)
  assert data.prepare("pets", data_dir=root).endswith(user.VERSION)  # what experiments call


def test_data_beyond_tfds_write_buffer_prepares_without_tensorflow(tmp_path, capsys, monkeypatch):
  """TFDS spills a write buffer over its limit (1 GB) to files through TensorFlow, which is not
  installed; a small limit stands in for a large folder."""
  from tensorflow_datasets.core import shuffle
  monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1000)
  src = labelled_folder(str(tmp_path / "pets"), sizes=((9, 9),))
  root = str(tmp_path / "data")
  assert prepare(["folder", src, "--name", "pets", "--data_dir", root], capsys)[0] == 0
  assert len(data.load("pets", "train", root)["label"]) + len(data.load("pets", "test", root)["label"]) == 20
  assert shuffle.MAX_MEM_BUFFER_SIZE == 1000  # restored


def test_train_and_test_folders_fix_the_split(tmp_path, capsys):
  src = str(tmp_path / "digits")
  labelled_folder(os.path.join(src, "train"), per_class=4, classes=("x", "y"), sizes=((6, 6),))
  labelled_folder(os.path.join(src, "test"), per_class=3, classes=("y",), sizes=((6, 6),))
  root = str(tmp_path / "data")
  assert prepare(["folder", src, "--name", "digits", "--data_dir", root], capsys)[0] == 0
  test = data.load("digits", "test", root)
  assert len(data.load("digits", "train", root)["label"]) == 8
  assert test["label"].tolist() == [1, 1, 1]  # test's only folder is class y of train's (x, y)
  assert user.record("digits", root)["split_from"] == "folders"


def test_unlabelled_rgb_folder(tmp_path, capsys):
  src = str(tmp_path / "flat")
  for i in range(20):
    _save(os.path.join(src, f"{i}.png"), (i, 2 * i, 3 * i), size=(6, 6), mode="RGB")
  root = str(tmp_path / "data")
  assert prepare(["folder", src, "--name", "flat", "--data_dir", root], capsys)[0] == 0
  train = data.load("flat", "train", root)
  assert train["image"].shape == (18, 6, 6, 3) and (train["label"] == -1).all()
  assert data.spec("flat", root).num_classes == 0 and data.spec("flat", root).class_names == ()
  assert data.identity("flat", root) == f"flat-{user.record('flat', root)['fingerprint']}"
  assert data.identity("mnist", root) == "mnist"


def test_unlabelled_data_is_refused_where_labels_are_needed(tmp_path, monkeypatch, capsys):
  src = str(tmp_path / "flat")
  for i in range(10):
    _save(os.path.join(src, f"{i}.png"), i, size=(8, 8))
  monkeypatch.setenv("JAXUNSUP_DATA_DIR", str(tmp_path / "data"))
  assert prepare(["folder", src, "--name", "flat"], capsys)[0] == 0
  with pytest.raises(UsageError, match="flat has no labels, and the label sweep needs them"):
    data.require_labels("flat", "the label sweep")
  for script, config in (("pretrain_finetune", "smoke"), ("representations", "smoke"),
                         ("gan", "smoke")):
    extra = ["--config.model.name=cgan"] if script == "gan" else []
    out = run_script(os.path.join(REPO, "experiments", f"{script}.py"),
                     f"--config={os.path.join(REPO, 'experiments', 'configs', script)}.py:{config}",
                     f"--workdir={tmp_path / script}", "--config.data.name=flat", *extra)
    assert out.returncode == 2, out.stderr
    assert "flat has no labels" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / script)


def _unreadable(src):
  os.makedirs(os.path.join(src, "a"))
  _save(os.path.join(src, "a", "0.png"), 1, size=(6, 6))
  with open(os.path.join(src, "a", "1.png"), "wb") as f:
    f.write(b"not a png")


def _mixed_sizes(src):
  _save(os.path.join(src, "a", "0.png"), 1, size=(6, 6))
  _save(os.path.join(src, "a", "1.png"), 1, size=(7, 6))


def _images_beside_classes(src):
  _save(os.path.join(src, "a", "0.png"), 1, size=(6, 6))
  _save(os.path.join(src, "1.png"), 1, size=(6, 6))


def _empty_class(src):
  _save(os.path.join(src, "a", "0.png"), 1, size=(6, 6))
  os.makedirs(os.path.join(src, "b"))


def _no_images(src):
  os.makedirs(src)
  with open(os.path.join(src, "x.txt"), "w") as f:
    f.write("x")


def _test_labelled_train_not(src):
  _save(os.path.join(src, "train", "0.png"), 1, size=(6, 6))
  _save(os.path.join(src, "test", "a", "0.png"), 1, size=(6, 6))


@pytest.mark.parametrize("make, message", [
    (_unreadable, "1.png is not a readable PNG or JPEG"),
    (_mixed_sizes, "images of different sizes"),
    (_images_beside_classes, "both images"),
    (_empty_class, "holds no PNG or JPEG images"),
    (_no_images, "holds no PNG or JPEG images"),
    (_test_labelled_train_not, "must both have class folders, or neither"),
])
def test_bad_folders_leave_nothing_registered(tmp_path, capsys, make, message):
  src = str(tmp_path / "src")
  make(src)
  root = str(tmp_path / "data")
  code, err = prepare(["folder", src, "--name", "mine", "--data_dir", root], capsys)
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
  assert user.record("mine", root) is None
  with pytest.raises(UsageError, match="unknown dataset 'mine'"):
    data.load("mine", "train", root)


@pytest.mark.parametrize("argv, message", [
    (["folder", "SRC", "--name", "mnist"], "taken by a built-in dataset"),
    (["folder", "SRC", "--name", "My-Set"], "must be lower case"),
    (["folder", "SRC", "--name", "ok", "--size", "-1"], "size must be >= 0"),
    (["folder", "SRC", "--name", "ok", "--test_fraction", "1"], "test_fraction in (0, 1)"),
    (["folder", "SRC/nowhere", "--name", "ok"], "is not a directory"),
    (["folder", "SRC"], "the following arguments are required: --name"),
    (["text", "SRC/x.txt", "--name", "ok"], "cannot read"),
])
def test_bad_arguments(tmp_path, capsys, argv, message):
  src = labelled_folder(str(tmp_path / "src"), per_class=2, sizes=((6, 6),))
  argv = [a.replace("SRC", src) for a in argv] + ["--data_dir", str(tmp_path / "data")]
  code, err = prepare(argv, capsys)
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_failed_build_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
  src = labelled_folder(str(tmp_path / "pets"), sizes=((6, 6),))
  root = str(tmp_path / "data")
  real = user._Builder._generate_examples

  def dies_midway(self, values, labels):
    for i, example in enumerate(real(self, values, labels)):
      if i == 5:
        raise KeyboardInterrupt  # as a Ctrl-C halfway through writing would
      yield example

  monkeypatch.setattr(user._Builder, "_generate_examples", dies_midway)
  with pytest.raises(KeyboardInterrupt):
    cli.main(["prepare", "folder", src, "--name", "pets", "--data_dir", root])
  assert user.record("pets", root) is None
  assert os.listdir(os.path.join(root, "pets")) == []
  monkeypatch.setattr(user._Builder, "_generate_examples", real)
  assert prepare(["folder", src, "--name", "pets", "--data_dir", root], capsys)[0] == 0
  assert len(data.load("pets", "train", root)["label"]) == 18


def test_text_csv_and_jsonl(tmp_path, capsys):
  csv_path = tmp_path / "reviews.csv"
  rows = [f'"text number {i}, with a comma",{("2", "10", "3")[i % 3]}' for i in range(30)]
  csv_path.write_text("text,label\n" + "\n".join(rows) + "\n")
  root = str(tmp_path / "data")
  assert prepare(["text", str(csv_path), "--name", "reviews", "--data_dir", root], capsys)[0] == 0
  spec = data.text_spec("reviews", root)
  assert spec.class_names == ("2", "3", "10")  # integers in numeric order
  train, test = data.load("reviews", "train", root), data.load("reviews", "test", root)
  assert len(train["text"]) == 27 and np.bincount(test["label"]).tolist() == [1, 1, 1]
  assert "text number 0, with a comma" in train["text"] + test["text"]
  with pytest.raises(UsageError, match="reviews is a text dataset"):
    data.spec("reviews", root)

  jsonl = tmp_path / "notes.jsonl"
  jsonl.write_text("\n".join(json.dumps({"text": f"note {i}", "split": "test" if i < 2 else "train"})
                             for i in range(6)) + "\n")
  assert prepare(["text", str(jsonl), "--name", "notes", "--data_dir", root], capsys)[0] == 0
  test = data.load("notes", "test", root)
  assert test["text"] == ["note 0", "note 1"] and (test["label"] == -1).all()
  assert data.text_spec("notes", root).num_classes == 0


@pytest.mark.parametrize("content, name, message", [
    ("text,label\na,x\nb,\n", "t.csv", "1 of 2 rows have no label (row 3 first)"),
    ('{"text": "a", "label": "x"}\n{"text": "b"}\n', "t.jsonl", "rows have no label"),
    ("text,label\na,x\nb,y,z\n", "t.csv", "row 3: 3 fields"),
    ("{not json\n", "t.jsonl", "line 1: not JSON"),
    ("body\nhello\n", "t.csv", "no text field"),
    ('{"text": "a", "split": "val"}\n', "t.jsonl", "split 'val'"),
    ("text\na\n", "t.tsv", "give a .csv"),
])
def test_bad_text_files(tmp_path, capsys, content, name, message):
  path = tmp_path / name
  path.write_text(content)
  root = str(tmp_path / "data")
  code, err = prepare(["text", str(path), "--name", "mine", "--data_dir", root], capsys)
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
  assert user.record("mine", root) is None


def test_experiments_train_on_a_prepared_folder(tmp_path, monkeypatch, capsys):
  """64x64 colour images through each family's smoke run: the conv autoencoder and the shared
  encoder's pretraining and fine-tuning on a labelled folder, and DCGAN on an unlabelled one,
  which trains and draws but has no evaluator to score it with."""
  monkeypatch.setenv("JAXUNSUP_DATA_DIR", str(tmp_path / "data"))
  labelled_folder(str(tmp_path / "pets"), per_class=40, sizes=((70, 66),))
  assert prepare(["folder", str(tmp_path / "pets"), "--name", "pets", "--size", "64",
                  "--channels", "3"], capsys)[0] == 0
  out = run_script(os.path.join(REPO, "experiments", "autoencoder.py"),
                   f"--config={REPO}/experiments/configs/autoencoder.py:smoke",
                   f"--workdir={tmp_path / 'ae'}", "--config.data.name=pets",
                   "--config.model.name=conv", "--config.train.batch_size=16")
  assert out.returncode == 0, out.stderr
  summary = json.loads((tmp_path / "ae" / "summary.json").read_text())
  assert summary["dataset"] == "pets" and np.isfinite(summary["test_mse"])
  assert (tmp_path / "ae" / "latent.png").exists()
  out = run_script(os.path.join(REPO, "experiments", "pretrain_finetune.py"),
                   f"--config={REPO}/experiments/configs/pretrain_finetune.py:smoke",
                   f"--workdir={tmp_path / 'pf'}", "--config.data.name=pets",
                   "--config.pretrain.objectives=('simclr',)", "--config.finetune.evaluations=('finetune',)",
                   "--config.finetune.seeds=(0,)")
  assert out.returncode == 0, out.stderr
  assert (tmp_path / "pf" / "summary.json").exists()

  os.makedirs(tmp_path / "flat")
  for i in range(40):
    _save(str(tmp_path / "flat" / f"{i}.png"), (6 * i, 3 * i, 255 - 6 * i), size=(64, 64), mode="RGB")
  assert prepare(["folder", str(tmp_path / "flat"), "--name", "flat"], capsys)[0] == 0
  out = run_script(os.path.join(REPO, "experiments", "gan.py"),
                   f"--config={REPO}/experiments/configs/gan.py:smoke", f"--workdir={tmp_path / 'gan'}",
                   "--config.data.name=flat", "--config.train.batch_size=16")
  assert out.returncode == 0, out.stderr
  summary = json.loads((tmp_path / "gan" / "summary.json").read_text())
  assert summary["scores"].startswith("not scored: flat has no labels")
  assert (tmp_path / "gan" / "samples.png").exists()
