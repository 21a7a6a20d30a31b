"""SCAN: its two losses and the neighbour mining by hand, exact resume of a trial, separable data
clustered exactly, and the representation study's SCAN rows."""

import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import clustering
from jaxunsup.objectives import scan
from jaxunsup.recipes import representations
from jaxunsup.train import checkpoint


def test_scan_loss_by_hand():
  anchor = jnp.log(jnp.array([[0.5, 0.5], [0.75, 0.25]]))
  neighbour = jnp.zeros((2, 2))  # uniform: every dot product is 0.5
  loss, metrics = scan.scan_loss(anchor, neighbour, entropy_weight=5.0)
  entropy = -(0.625 * np.log(0.625) + 0.375 * np.log(0.375))  # of the mean assignment [0.625, 0.375]
  np.testing.assert_allclose(metrics["consistency"], np.log(2), rtol=1e-6)
  np.testing.assert_allclose(metrics["entropy"], entropy, rtol=1e-6)
  np.testing.assert_allclose(loss, np.log(2) - 5.0 * entropy, rtol=1e-6)
  agree = jnp.log(jnp.array([[0.999, 0.001], [0.001, 0.999]]))  # confident agreement costs almost nothing
  np.testing.assert_allclose(scan.scan_loss(agree, agree, 0.0)[0], -np.log(0.999 ** 2 + 0.001 ** 2), rtol=1e-4)


def test_self_label_loss_masks_by_threshold_and_weights_by_cluster():
  weak = jnp.log(jnp.array([[0.995, 0.005], [0.996, 0.004], [0.004, 0.996], [0.6, 0.4]]))
  strong = jnp.array([[0.3, -0.2], [1.0, 2.0], [0.5, 0.1], [4.0, -4.0]])
  loss, metrics = scan.self_label_loss(weak, strong, threshold=0.99)
  log_p = np.log(np.exp(strong) / np.exp(strong).sum(1, keepdims=True))
  ce = -log_p[[0, 1, 2], [0, 0, 1]]
  # cluster 0 has two confident images, cluster 1 one: weights 1/2, 1/2, 1; the fourth is below 0.99
  np.testing.assert_allclose(loss, (0.5 * ce[0] + 0.5 * ce[1] + ce[2]) / 2.0, rtol=1e-6)
  np.testing.assert_allclose(metrics["confident"], 0.75)
  none, metrics = scan.self_label_loss(weak, strong, threshold=0.999)
  assert float(none) == 0.0 and float(metrics["confident"]) == 0.0


def test_nearest_neighbours_by_cosine_never_the_image_itself():
  z = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
  for chunk in (2, 5):  # rows in several chunks and in one: the same answer
    np.testing.assert_array_equal(scan.nearest_neighbours(z, 1, chunk=chunk)[:, 0], [1, 0, 3, 2, 2])
  assert scan.nearest_neighbours(3.0 * z, 2, chunk=2).tolist()[0] == [1, 3]  # direction only


def _block(**fields):
  c = study_configs.get_config("smoke").clustering.scan
  return ml_collections.ConfigDict({**c.to_dict(), **fields})


def _blobs(n_per=40, seed=0):
  """Three well-separated clusters of 8-d features, their labels, and two noisy views."""
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(3), n_per)
  centres = 4.0 * rng.normal(size=(3, 8))
  z = (centres[labels] + 0.3 * rng.normal(size=(len(labels), 8))).astype(np.float32)
  views = z[None] + 0.3 * rng.normal(size=(2, *z.shape)).astype(np.float32)
  return z, views, labels


class Killed(Exception):
  pass


def test_a_killed_trial_resumes_to_the_same_clusters(tmp_path):
  z, views, _ = _blobs()
  inputs, neighbours = scan.standardise(z, views), scan.nearest_neighbours(z, 5)
  # three heads: the kept head, chosen when self-labelling began, must survive the kill too
  block = _block(scan_steps=30, self_label_steps=30, checkpoint_steps=10, threshold=0.5, heads=3)
  whole = scan.fit(block, inputs, neighbours, 3, seed=1, trial_dir=str(tmp_path / "whole"))

  def kill(done):
    if done == 4:  # in self-labelling, after the checkpoint of chunk 4
      raise Killed

  with pytest.raises(Killed):
    scan.fit(block, inputs, neighbours, 3, seed=1, trial_dir=str(tmp_path / "killed"), progress=kill)
  assert checkpoint.manager(str(tmp_path / "killed")).latest_step() == 4
  resumed = scan.fit(block, inputs, neighbours, 3, seed=1, trial_dir=str(tmp_path / "killed"))
  for name in ("labels", "scan_labels", "head_labels"):
    np.testing.assert_array_equal(resumed[name], whole[name])
  assert resumed["confident"] == whole["confident"] and resumed["head"] == whole["head"]


def test_head_losses_by_hand():
  # Two images, each the other's neighbour. Head 0 puts both at [0.9, 0.1]; head 1 is uniform.
  p = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.9, 0.1], [0.5, 0.5]]])  # (N, heads, K)
  neighbours = np.array([[1], [0]])
  entropy0 = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
  for weight in (1.0, 5.0):
    expected = [-np.log(0.82) - weight * entropy0, np.log(2) - weight * np.log(2)]
    np.testing.assert_allclose(scan.head_losses(p, neighbours, weight), expected, rtol=1e-12)
  # the entropy weight decides which head is kept: the confident one at 1, the uniform one at 5
  assert np.argmin(scan.head_losses(p, neighbours, 1.0)) == 0
  assert np.argmin(scan.head_losses(p, neighbours, 5.0)) == 1


def test_heads_train_apart_and_the_lowest_loss_is_kept(tmp_path):
  z, views, _ = _blobs()
  z = z + 3.0 * np.random.default_rng(1).normal(size=z.shape).astype(np.float32)  # overlapping blobs
  inputs, neighbours = scan.standardise(z, views), scan.nearest_neighbours(z, 5)
  block = _block(scan_steps=40, self_label_steps=0, checkpoint_steps=20)
  one = scan.fit(block, inputs, neighbours, 3, seed=0, trial_dir=str(tmp_path / "one"))
  three = scan.fit(_block(**{**block.to_dict(), "heads": 3}), inputs, neighbours, 3, seed=0,
                   trial_dir=str(tmp_path / "three"))
  # head 0 is the one-head trial: the heads share batches but not gradients
  np.testing.assert_array_equal(three["head_labels"][0], one["labels"])
  np.testing.assert_allclose(three["head_losses"][0], one["head_losses"][0], rtol=1e-5)
  assert len(set(np.round(three["head_losses"], 6))) == 3  # each head from its own initialisation
  assert three["head"] == int(np.argmin(three["head_losses"]))
  np.testing.assert_array_equal(three["labels"], three["head_labels"][three["head"]])


def test_separable_features_are_clustered_exactly(tmp_path):
  z, views, labels = _blobs()
  out = scan.fit(_block(scan_steps=300, self_label_steps=100, checkpoint_steps=100, learning_rate=1e-2),
                 scan.standardise(z, views), scan.nearest_neighbours(z, 5), 3, seed=0, trial_dir=str(tmp_path))
  assert clustering.hungarian_accuracy(labels, out["scan_labels"]) == 1.0
  assert clustering.hungarian_accuracy(labels, out["labels"]) == 1.0
  assert out["confident"] > 0.9


@pytest.mark.parametrize("fields,message", [
    ({"threshold": 1.0}, "threshold must be in (0, 1)"),
    ({"neighbours": 0}, "neighbours must be >= 1"),
    ({"heads": 0}, "heads must be >= 1"),
    ({"augment": {**_block().augment.to_dict(), "flip": "sideways"}}, "clustering.scan.augment.flip"),
])
def test_bad_settings_are_refused(fields, message):
  with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
    scan.check(_block(**fields), "mnist")


def test_too_few_images_are_refused():
  with pytest.raises(UsageError, match="10 clusters cannot be made of 8 images"):
    scan.check_size(_block(), 8, 10)
  with pytest.raises(UsageError, match="neighbours 5 needs more than that many images; 5 are"):
    scan.check_size(_block(), 5, 3)


def _study_config():
  c = study_configs.get_config("smoke")
  c.clustering.algorithms = ("kmeans", "scan")
  c.clustering.scan.heads = 2
  c.anomaly.methods = ()
  c.maps.update(examples=100, iterations=250)
  return c


def test_study_runs_scan_trials_on_every_representation_and_reads_them_back(tmp_path):
  summary = representations.run(_study_config(), str(tmp_path))
  rows = {(r["method"], r["algorithm"]): r for r in summary["clustering"]["rows"]}
  assert set(rows) == {(m, a) for m in ("raw pixels", "pca 8") for a in ("kmeans", "scan")}
  for method in ("raw pixels", "pca 8"):
    row = rows[(method, "scan")]
    assert len(row["per_seed"]) == 2 and row["acc_min"] <= row["acc_mean"] <= row["acc_max"]
    assert 0.1 < row["acc_mean"] <= 1 and 0.1 < row["before_self_label_acc_mean"] <= 1
    assert 0.5 < row["neighbour_purity"] <= 1  # MNIST's nearest neighbours mostly share the digit
    assert row["acc_mean"] <= row["best_head_acc_mean"] <= 1
    folder = tmp_path / "clustering" / f"{method.replace(' ', '_')}_scan"
    assert os.path.getsize(folder / "clusters.png") > 0
    assert not os.path.exists(folder / "seed0")
    with open(folder / "seed1.json") as f:
      assert json.load(f)["seed"] == 1
  again = representations.run(_study_config(), str(tmp_path))  # trials read back, not rerun
  assert again["clustering"] == summary["clustering"]


def test_study_refuses_more_neighbours_than_images_before_writing(tmp_path):
  c = _study_config()
  c.clustering.scan.neighbours = 5000
  with pytest.raises(UsageError, match="neighbours 5000 needs more than that many images; 1000 are clustered"):
    representations.run(c, str(tmp_path / "w"))
  assert not os.path.exists(tmp_path / "w")
