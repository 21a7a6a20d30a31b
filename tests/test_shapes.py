"""The rendered shapes dataset: a complete factor grid, images that re-render from their factors,
and a prepare that is quick, repeatable and refuses a source_dir."""

import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.data import sprites
from jaxunsup.errors import UsageError

N = 3 * 4 * 8 * 8 * 8 * 3


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """(data_dir, train, test) of shapes prepared in a fresh data_dir."""
  data_dir = str(tmp_path_factory.mktemp("shapes"))
  data.prepare("shapes", data_dir=data_dir)
  return data_dir, data.load("shapes", "train", data_dir), data.load("shapes", "test", data_dir)


def test_spec_names_the_factors():
  spec = data.spec("shapes")
  assert "shapes" in data.DATASETS and spec.shape == (28, 28, 1)
  assert spec.class_names == ("square", "ellipse", "triangle")
  assert [name for name, _ in spec.factors] == ["shape", "scale", "rotation", "x", "y",
                                                "brightness"]
  assert sprites.SIZES == (3, 4, 8, 8, 8, 3) and np.prod(sprites.SIZES) == N == spec.train_examples


def test_train_holds_every_combination_once(prepared):
  _, train, _ = prepared
  factors = train["factors"]
  assert factors.shape == (N, 6) and factors.dtype == np.int32
  assert train["image"].shape == (N, 28, 28, 1) and train["image"].dtype == np.uint8
  np.testing.assert_array_equal(factors, sprites.factor_grid())  # C order, brightness fastest
  assert len(np.unique(factors, axis=0)) == N
  for j, size in enumerate(sprites.SIZES):
    assert np.bincount(factors[:, j]).tolist() == [N // size] * size
  np.testing.assert_array_equal(train["label"], factors[:, 0])


def test_every_image_re_renders_from_its_factors(prepared):
  _, train, test = prepared
  np.testing.assert_array_equal(sprites.render(train["factors"]), train["image"])
  np.testing.assert_array_equal(sprites.render(test["factors"]), test["image"])
  np.testing.assert_array_equal(sprites.render(train["factors"][5]), train["image"][5])


def test_test_split_is_a_fixed_sample_of_train(prepared):
  _, train, test = prepared
  rows = np.ravel_multi_index(tuple(test["factors"].T), sprites.SIZES)
  assert len(rows) == round(N * 0.1) and (np.diff(rows) > 0).all()
  np.testing.assert_array_equal(rows, sprites.split_indices()["test"])
  np.testing.assert_array_equal(test["image"], train["image"][rows])
  np.testing.assert_array_equal(test["label"], train["label"][rows])


def test_every_factor_changes_the_image(prepared):
  _, train, _ = prepared
  images_NxP = train["image"].reshape(N, -1)
  # No two combinations draw the same image, so a step along any one factor changes it.
  assert len({row.tobytes() for row in images_NxP}) == N
  cube = train["image"][..., 0].reshape(*sprites.SIZES, 28, 28).astype(np.float64)
  mass = cube.sum(axis=(-1, -2))
  # More ink for bigger and brighter sprites, everything else equal.
  assert (np.diff(mass, axis=1) > 0).all() and (np.diff(mass, axis=5) > 0).all()
  # The centre of mass follows x (columns) and y (rows).
  centre_x = (cube * np.arange(28)).sum(axis=(-1, -2)) / mass
  centre_y = (cube * np.arange(28)[:, None]).sum(axis=(-1, -2)) / mass
  assert (np.diff(centre_x, axis=3) > 1).all() and (np.diff(centre_y, axis=4) > 1).all()
  assert images_NxP.max(axis=1).min() > 0 and images_NxP.max() == 255


def test_window_holds_the_whole_sprite(monkeypatch):
  sprites_Mx3 = np.unique(sprites.factor_grid()[:, :3], axis=0)
  patches = sprites.patches(sprites_Mx3)
  monkeypatch.setattr(sprites, "WINDOW_PX", sprites.WINDOW_PX + 2)
  wider = sprites.patches(sprites_Mx3)
  np.testing.assert_array_equal(wider[:, 1:-1, 1:-1], patches)
  assert wider.sum() == patches.sum()  # nothing of any sprite falls outside the window


def test_prepare_is_a_repeatable_no_op(prepared, tmp_path, capsys):
  data_dir, train, _ = prepared
  path = data.prepare("shapes", data_dir=data_dir)
  assert "already prepared" in capsys.readouterr().out
  again = data.load("shapes", "train", data_dir)
  assert all(np.array_equal(again[k], train[k]) for k in ("image", "label", "factors"))
  fresh = str(tmp_path / "fresh")
  assert data.prepare("shapes", data_dir=fresh) != path
  np.testing.assert_array_equal(data.load("shapes", "train", fresh)["image"], train["image"])


def test_refusals(tmp_path):
  with pytest.raises(UsageError, match="no --source_dir"):
    data.prepare("shapes", data_dir=str(tmp_path / "data"), source_dir=str(tmp_path))
  with pytest.raises(UsageError, match=r"\(N, 6\)"):
    sprites.render(np.zeros((2, 5), int))
  with pytest.raises(UsageError, match="below their sizes"):
    sprites.render([[3, 0, 0, 0, 0, 0]])
  with pytest.raises(UsageError, match="integer"):
    sprites.render([[0.0] * 6])
