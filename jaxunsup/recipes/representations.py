"""What unsupervised representations are for: maps, kNN, clustering, one-class anomaly detection.

`run(config, workdir)` is what experiments/representations.py runs on a set of trained workdirs
(`config.sources`), with raw pixels and PCA as baselines. Layout of a workdir:
  anomaly/MODEL_cCLASS/   one-class models, one loop workdir each (killed runs resume)
  anomaly/deep_svdd_cCLASS/  Deep SVDD (and geom_cCLASS/, GEOM): seedN.json and seedN_scores.npy
                          per finished trial, seedN/ the checkpoints of an unfinished one
  clustering/SOURCE_ALGORITHM/  DEC, IDEC, SCAN and N2D: seedN.json and seedN_labels.npy per finished trial,
                          seedN/ the checkpoints of an unfinished one; clusters.png
  summary.json, representations.md, maps.png, anomaly.png, deep_svdd_extremes.png
"""

import dataclasses
import json
import os
import time
from typing import Callable, Optional

import jax
import ml_collections
import numpy as np
from sklearn.manifold import TSNE
from tqdm import tqdm

from jaxunsup import augment as augment_lib
from jaxunsup import configs, pretrain, trained, viz
from jaxunsup import data as data_lib
from jaxunsup.chunked import map_in_chunks
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import anomaly as anomaly_lib
from jaxunsup.eval import clustering, n2d, umap
from jaxunsup.eval import pca as pca_lib
from jaxunsup.eval.knn import knn_predict
from jaxunsup.objectives import dec, deep_svdd, geom, registry, scan
from jaxunsup.train import checkpoint, loop
from jaxunsup.train import files, workdir as workdir_lib
from jaxunsup.train.state import AEState

SUMMARY_FILE = "summary.json"
ANOMALY_METHODS = ("pca", "autoencoder", "vae", "simclr", "centre", "knn", "deep_svdd", "geom")
CLUSTERING_ALGORITHMS = ("kmeans", "spectral", "n2d", *dec.ALGORITHMS, "scan")
TRIAL_CLUSTERING = (*dec.ALGORITHMS, "scan", "n2d")  # a folder of trials each, drawn as images
MAP_METHODS = {"tsne": "t-SNE", "umap": "UMAP"}


@dataclasses.dataclass(frozen=True)
class Representation:
  """A map from uint8 images to features, and back to images where the method has a decoder."""
  name: str
  kind: str                        # raw | pca | autoencoder | vae | the objective (simclr, byol, ...)
  dim: int
  encode: Callable[[np.ndarray], np.ndarray]
  reconstruct: Optional[Callable[[np.ndarray], np.ndarray]] = None
  on_sphere: bool = False          # contrastive features: compared by direction only
  networks: Optional[dec.Networks] = None  # a plain autoencoder's: DEC and IDEC train them
  compile_key: str = ""            # of the source's config: equal ones share compiled code

  def features(self, images: np.ndarray) -> np.ndarray:
    z = np.asarray(self.encode(images), np.float64)
    return anomaly_lib.unit(z) if self.on_sphere else z


def _flat(images: np.ndarray) -> np.ndarray:
  return images.reshape((len(images), -1)).astype(np.float32) / 255.0


def raw_pixels() -> Representation:
  return Representation("raw pixels", "raw", 0, _flat)


def pca_representation(train_images: np.ndarray, dim: int) -> Representation:
  """PCA of the train split; reconstructions are reshaped back to images."""
  fitted = pca_lib.fit(_flat(train_images), dim)
  shape = train_images.shape[1:]
  return Representation(f"pca {dim}", "pca", dim, lambda x: fitted.encode(_flat(x)),
                        lambda x: np.clip(fitted.decode(fitted.encode(_flat(x))), 0, 1).reshape(
                            (len(x), *shape)).astype(np.float32))


def load_source(workdir: str, dataset: str) -> Representation:
  """The representation of a trained workdir: any run whose objective has an encoder."""
  config = trained.read_config(workdir)
  if config.get("data", {}).get("name") != dataset:
    raise UsageError(f"source {workdir} was trained on {config.get('data', {}).get('name')!r}, "
                     f"not {dataset!r}")
  model = trained.load(workdir)
  if model.parts.encode is None:
    raise UsageError(f"source {workdir} is a {model.objective.family} run of {model.name!r}, "
                     "which has no encoder to study")
  name = os.path.basename(os.path.normpath(workdir))
  dim = int(model.encode(np.zeros((1, *model.spec.shape), np.uint8)).shape[-1])
  has_decoder = model.parts.decode is not None
  kind = ("vae" if model.parts.sample is not None else "autoencoder") if has_decoder else model.name
  return Representation(name, kind, dim, model.encode, model.reconstruct if has_decoder else None,
                        on_sphere=model.parts.unit_features, networks=_plain_autoencoder(model, dim),
                        compile_key=registry.compile_key(model.config))


def _plain_autoencoder(model, dim: int) -> Optional[dec.Networks]:
  """The encoder and decoder of an autoencoder whose `dim`-d code is its encoder's output (not a
  VAE's mean and variance, nor a VQ-VAE's quantised code): what DEC and IDEC start from."""
  state = model.state
  if not isinstance(state, AEState) or model.parts.sample is not None or model.parts.latent_kl is not None:
    return None
  raw = state.encoder.apply_fn({"params": state.encoder.params}, np.zeros((1, *model.spec.shape), np.float32))
  if np.shape(raw) != (1, dim):
    return None
  enc, dec_apply = state.encoder.apply_fn, state.decoder.apply_fn
  return dec.Networks(encode=lambda p, x: enc({"params": p}, x), decode=lambda p, z: dec_apply({"params": p}, z),
                      encoder_params=state.encoder.params, decoder_params=state.decoder.params)


def check(config: ml_collections.ConfigDict) -> None:
  """Names and numbers checked before any data is read or anything written."""
  configs.check_values(config, study_configs)
  unknown = [m for m in config.anomaly.methods if m not in ANOMALY_METHODS]
  if unknown:
    raise UsageError(f"unknown anomaly method {unknown[0]!r}; choose from {', '.join(ANOMALY_METHODS)}")
  unknown = [a for a in config.clustering.algorithms if a not in CLUSTERING_ALGORITHMS]
  if unknown:
    raise UsageError(f"unknown clustering algorithm {unknown[0]!r}; choose from "
                     f"{', '.join(CLUSTERING_ALGORITHMS)}")
  for algorithm in config.clustering.algorithms:
    if algorithm in dec.ALGORITHMS:
      dec.check(config.clustering[algorithm], algorithm)
  if "scan" in config.clustering.algorithms:
    scan.check(config.clustering.scan, config.data.name)
  if "n2d" in config.clustering.algorithms:
    n2d.check(config.clustering.n2d)
  if config.maps.method not in MAP_METHODS:
    raise UsageError(f"maps.method must be one of {', '.join(MAP_METHODS)}, got {config.maps.method!r}")
  if config.maps.neighbours < 2 or not 0 <= config.maps.min_dist <= 1:
    raise UsageError("maps.neighbours must be >= 2 and maps.min_dist in [0, 1] (UMAP's spread is 1)")
  if config.clustering.split not in ("all", "test"):
    raise UsageError(f"clustering.split must be all or test, got {config.clustering.split!r}")
  names = [os.path.basename(os.path.normpath(s)) for s in config.sources]
  twice = sorted({n for n in names if names.count(n) > 1})
  if twice:
    raise UsageError(f"two sources are named {twice[0]!r} (the folder name); rename one")
  data_lib.require_labels(config.data.name, "the representation study (probes, clustering scores, "
                          "one-class classes)")
  classes = data_lib.num_classes(config.data.name)
  if config.train_examples < 0 or config.test_examples < 0:
    raise UsageError("train_examples and test_examples must be >= 0 (0 = the whole split)")
  bad = [c for c in config.anomaly.classes if not 0 <= c < classes]
  if bad:
    raise UsageError(f"anomaly class {bad[0]} is not a class of {config.data.name} (0..{classes - 1})")
  if "deep_svdd" in config.anomaly.methods:
    deep_svdd.check(config.anomaly.deep_svdd, data_lib.input_spec(config.data.name).shape)
  if "geom" in config.anomaly.methods:
    geom.check(config.anomaly.geom, data_lib.input_spec(config.data.name).shape)


def check_deep_clustering(config, sources, examples: int) -> None:
  """DEC and IDEC need a plain autoencoder among the sources; they and SCAN need enough images."""
  asked = [a for a in config.clustering.algorithms if a in dec.ALGORITHMS]
  if asked and not any(s.networks is not None for s in sources):
    raise UsageError(f"clustering algorithm {asked[0]!r} trains a plain autoencoder's encoder (mlp, conv "
                     "or denoising runs); none of config.sources is one")
  k = data_lib.num_classes(config.data.name)
  for algorithm in asked:
    dec.check_size(config.clustering[algorithm], algorithm, examples, k)
  if "scan" in config.clustering.algorithms:
    scan.check_size(config.clustering.scan, examples, k)
  if "n2d" in config.clustering.algorithms:
    n2d.check_size(config.clustering.n2d, examples, k)


def _map_2d(z_NxD: np.ndarray, maps_cfg, seed: int) -> np.ndarray:
  if maps_cfg.method == "umap":  # the reference's epochs: 500 for small data, 200 above 10,000 points
    return umap.embed(z_NxD, 2, seed, neighbours=maps_cfg.neighbours, min_dist=maps_cfg.min_dist,
                      epochs=200 if len(z_NxD) > 10000 else 500)
  return TSNE(n_components=2, perplexity=maps_cfg.perplexity, max_iter=maps_cfg.iterations, init="pca",
              random_state=seed).fit_transform(np.asarray(z_NxD, np.float64))


@dataclasses.dataclass(frozen=True)
class Encoded:
  """A representation with the features of the train and test images, computed once per run."""
  rep: Representation
  train: np.ndarray
  test: np.ndarray


def encode_splits(reps, train: dict, test: dict) -> list:
  return [Encoded(rep, rep.features(train["image"]), rep.features(test["image"]))
          for rep in tqdm(reps, desc="features")]


def reduction_table(encoded, train: dict, test: dict, config) -> list:
  """kNN accuracy (train split as the bank) and test reconstruction error of every method."""
  rows = []
  num_classes = data_lib.num_classes(config.data.name)
  x_test = test["image"].astype(np.float32) / 255.0
  for e in tqdm(encoded, desc="kNN and reconstruction"):
    predicted = knn_predict(e.train, train["label"], e.test, config.knn.k, num_classes,
                            config.knn.temperature)
    rep = e.rep
    mse = float(np.mean(np.square(rep.reconstruct(test["image"]) - x_test))) if rep.reconstruct else None
    rows.append({"method": rep.name, "kind": rep.kind, "dim": rep.dim or int(np.prod(x_test.shape[1:])),
                 "knn_accuracy": float(np.mean(predicted == test["label"])), "test_mse": mse})
  return rows


def maps(encoded, test: dict, config, path: str, class_names) -> list:
  """PCA, and t-SNE or UMAP, of the first test images in every representation (2-d codes drawn as
  they are)."""
  images = test["image"][:config.maps.examples]
  panels = [("PCA of pixels", pca_lib.fit(_flat(images), 2).encode(_flat(images)))]
  method = MAP_METHODS[config.maps.method]
  for e in tqdm(encoded, desc=f"{method} maps"):
    z = e.test[:len(images)]
    panels.append((f"{e.rep.name}: its 2-d code", z) if z.shape[1] == 2 else
                  (f"{method} of {e.rep.name}", _map_2d(z, config.maps, config.seed)))
  viz.save_maps(path, panels, test["label"][:len(images)],
                f"{config.data.name}: {len(images)} test images", class_names)
  return [name for name, _ in panels]


def _clustered(train: dict, test: dict, split: str, field: str) -> np.ndarray:
  return np.concatenate([train[field], test[field]]) if split == "all" else test[field]


def clustering_table(encoded, train: dict, test: dict, config, workdir: str) -> list:
  """Every clustering algorithm (k = classes) on every representation; ACC, NMI, ARI over the seeds.
  DEC and IDEC train the encoder of each plain autoencoder source, SCAN a head on every
  representation's features; one trial per seed."""
  cfg = config.clustering
  labels = _clustered(train, test, cfg.split, "label")
  images = _clustered(train, test, cfg.split, "image") if set(cfg.algorithms) & set(TRIAL_CLUSTERING) else None
  k = data_lib.num_classes(config.data.name)
  rows = []
  for e in tqdm([e for e in encoded if cfg.baselines or e.rep.kind not in ("raw", "pca")], desc="clustering"):
    z = np.concatenate([e.train, e.test]) if cfg.split == "all" else e.test
    for algorithm in cfg.algorithms:
      if algorithm == "kmeans":
        scores = clustering.kmeans_scores(z, labels, k, cfg.seeds, cfg.n_init)
      elif algorithm == "spectral":
        scores = clustering.spectral_scores(z, labels, k, cfg.seeds, cfg.spectral_neighbors)
      elif algorithm == "n2d":
        scores = n2d_clustering(e.rep, z, images, labels, k, config,
                                os.path.join(workdir, "clustering", f"{_slug(e.rep.name)}_n2d"))
      elif algorithm == "scan":
        scores = scan_clustering(e.rep, z, images, labels, k, config,
                                 os.path.join(workdir, "clustering", f"{_slug(e.rep.name)}_scan"))
      elif e.rep.networks is not None:
        scores = deep_clustering(e.rep, algorithm, images, labels, k, config,
                                 os.path.join(workdir, "clustering", f"{e.rep.name}_{algorithm}"))
      else:
        continue
      rows.append({"method": e.rep.name, "kind": e.rep.kind, "algorithm": algorithm, **scores})
  return rows


def deep_clustering(rep: Representation, algorithm: str, images: np.ndarray, labels: np.ndarray, k: int,
                    config, folder: str) -> dict:
  """DEC or IDEC trials (one per clustering seed) from `rep`'s autoencoder, each resumed or read back
  from `folder`; the scores summarized as for k-means, with the k-means start each trial refined."""
  cfg = config.clustering
  block = cfg[algorithm]
  key = (algorithm, rep.compile_key, json.dumps(block.to_dict(), sort_keys=True))
  trials = []
  for seed in cfg.seeds:

    def train(trial_dir, progress, seed=seed):
      out = dec.fit(algorithm, block, key, rep.networks, images, k, seed, trial_dir, progress=progress)
      trial = {"seed": seed, **clustering.scores(labels, out["labels"]),
               "kmeans_start": clustering.scores(labels, out["kmeans_labels"]),
               **{name: out[name] for name in ("steps", "updates", "stopped", "changed", "seconds")}}
      return trial, out["labels"].astype(np.int16)

    trials.append(_trial(folder, seed, "labels", dec.total_updates(block), f"{algorithm} {rep.name} seed {seed}",
                         "update", train))
  out = _trials_summary(trials, cfg.seeds, "kmeans_start", folder, images, labels, f"{algorithm.upper()} on {rep.name}")
  out["steps_mean"] = float(np.mean([t["steps"] for t in trials]))
  return out


def scan_clustering(rep: Representation, z_NxD: np.ndarray, images: np.ndarray, labels: np.ndarray, k: int,
                    config, folder: str) -> dict:
  """SCAN trials (one per clustering seed) on `rep`'s features `z_NxD` of `images`, each resumed
  or read back from `folder`. The neighbours and augmented views are made once, and only when a
  trial has to train; each trial records the neighbours' label purity beside its scores."""
  cfg = config.clustering
  block = cfg.scan
  made = {}

  def prepared():
    if not made:
      settings = augment_lib.settings(block.augment, config.data.name, "clustering.scan.augment")
      views = scan.augmented_features(rep.features, images, block.views, settings, config.seed)
      made["inputs"] = scan.standardise(np.asarray(z_NxD, np.float32), views)
      made["neighbours"] = scan.nearest_neighbours(z_NxD, block.neighbours)
      made["purity"] = float(np.mean(labels[made["neighbours"]] == labels[:, None]))
    return made

  trials = []
  for seed in cfg.seeds:

    def train(trial_dir, progress, seed=seed):
      p = prepared()
      out = scan.fit(block, p["inputs"], p["neighbours"], k, seed, trial_dir, progress=progress)
      trial = {"seed": seed, **clustering.scores(labels, out["labels"]),
               "before_self_label": clustering.scores(labels, out["scan_labels"]), "neighbour_purity": p["purity"],
               "head": out["head"], "head_losses": out["head_losses"],
               "head_accs": [clustering.hungarian_accuracy(labels, h) for h in out["head_labels"]],
               **{name: out[name] for name in ("confident", "empty_clusters", "scan_empty_clusters", "seconds")}}
      return trial, out["labels"].astype(np.int16)

    trials.append(_trial(folder, seed, "labels", scan.total_chunks(block), f"scan {rep.name} seed {seed}",
                         "chunk", train))
  out = _trials_summary(trials, cfg.seeds, "before_self_label", folder, images, labels, f"SCAN on {rep.name}")
  out["neighbour_purity"] = trials[0]["neighbour_purity"]
  if block.heads > 1:  # how well the lowest loss picks: the best head of each trial, in hindsight
    out["best_head_acc_mean"] = float(np.mean([max(t["head_accs"]) for t in trials]))
  return out


def n2d_clustering(rep: Representation, z_NxD: np.ndarray, images: np.ndarray, labels: np.ndarray, k: int,
                   config, folder: str) -> dict:
  """N2D trials (one per clustering seed) on `rep`'s features, each read back from `folder` once
  finished; the neighbour graph is made once, and only when a trial has to run. Each trial records
  beside its scores those of the same Gaussian mixture on the features themselves: what the
  embedding adds."""
  block = config.clustering.n2d
  made = {}
  trials = []
  for seed in config.clustering.seeds:

    def train(trial_dir, progress, seed=seed):
      del trial_dir  # a trial is minutes long and starts over after a kill
      t0 = time.perf_counter()
      if not made:
        made["graph"] = n2d.graph(z_NxD, block, k, labels)
      out = n2d.fit(block, made["graph"], k, seed, progress=progress)
      trial = {"seed": seed, **clustering.scores(labels, out["labels"]), "neighbour_purity": made["graph"].purity,
               "features_gmm": clustering.scores(labels, n2d.mixture(z_NxD, k, block, seed)),
               "seconds": round(time.perf_counter() - t0, 1)}
      return trial, out["labels"].astype(np.int16)

    trials.append(_trial(folder, seed, "labels", block.epochs, f"n2d {rep.name} seed {seed}", "epoch", train))
  out = _trials_summary(trials, config.clustering.seeds, "features_gmm", folder, images, labels,
                        f"N2D on {rep.name}")
  out["neighbour_purity"] = trials[0]["neighbour_purity"]
  return out


def _trials_summary(trials: list, seeds, start: str, folder: str, images: np.ndarray, labels: np.ndarray,
                    title: str) -> dict:
  """The scores of trained clusterings summarized as k-means', the mean ACC of their starting point
  (`start`: k-means for DEC, SCAN's first step for SCAN), and the median trial's clusters drawn."""
  out = clustering.summarize(trials, seeds)
  out[f"{start}_acc_mean"] = float(np.mean([t[start]["acc"] for t in trials]))
  out["seconds_mean"] = float(np.mean([t["seconds"] for t in trials]))
  median = trials[int(np.argsort([t["acc"] for t in trials])[len(trials) // 2])]
  predicted = np.load(os.path.join(folder, f"seed{median['seed']}_labels.npy"))
  _save_cluster_grid(os.path.join(folder, "clusters.png"), images, predicted, labels,
                     f"{title}, seed {median['seed']} (median ACC {median['acc']:.3f}): "
                     "one row per cluster, in the order of the classes they match")
  return out


def _slug(name: str) -> str:
  return name.replace(" ", "_")


def _save_cluster_grid(path: str, images: np.ndarray, clusters_N: np.ndarray, labels_N: np.ndarray, title: str,
                       per_row: int = 12) -> None:
  """Random members of each cluster, a row each, ordered by the class the cluster is matched to."""
  mapping = clustering.hungarian_map(labels_N, clusters_N)
  rng = np.random.default_rng(0)
  rows = []
  for cluster in sorted(mapping, key=mapping.get):
    members = np.flatnonzero(clusters_N == cluster)
    pick = rng.choice(members, min(per_row, len(members)), replace=False) if len(members) else members
    row = images[pick].astype(np.float32) / 255.0
    rows.append(np.concatenate([row, np.zeros((per_row - len(row), *images.shape[1:]), np.float32)]))
  viz.save_grid(path, np.concatenate(rows), title, ncol=per_row)


def one_class_config(config, model: str, normal_class: int) -> ml_collections.ConfigDict:
  """The autoencoder-family config of one one-class model."""
  c = ae_configs.base()
  block = config.anomaly[model]
  c.model.update(block.model.to_dict())
  c.train.update(block.train.to_dict())
  _one_class_run(c, c.train, config)
  c.normal_class = normal_class
  return c


def _one_class_run(c, run_block, config) -> None:
  # A one-class model is short: log, evaluate and checkpoint once, at its last step.
  run_block.update(log_every=min(run_block.log_every, run_block.steps), eval_every=run_block.steps,
                   checkpoint_every=run_block.steps)
  c.seed = config.seed
  c.data = ml_collections.ConfigDict(config.data.to_dict())
  configs.copy_runtime_fields(config, c)


def one_class_simclr_config(config, normal_class: int) -> ml_collections.ConfigDict:
  """The SimCLR pretraining config (`pretrain.phase_config`) of one one-class contrastive model."""
  block = config.anomaly.simclr
  c = pf_configs.base()
  c.model.update(block.model.to_dict())
  c.pretrain.update(block.pretrain.to_dict())
  c.augment.update(block.augment.to_dict())
  _one_class_run(c, c.pretrain, config)
  phase = pretrain.phase_config(c, "simclr")  # the sweep's SimCLR run of this block
  phase.normal_class = normal_class
  return phase


def _one_class_train(c, family: str, normal: dict, workdir: str):
  """Trains (or resumes) the one-class model of config `c` on the normal images in `workdir`;
  returns (parts, state). The AUROC is its evaluation: the loop's periodic eval would only compile
  more."""
  objective = registry.get(family, c.objective if family == "pretrain" else c.model.name)
  parts = registry.parts(objective, c, data_lib.input_spec(c.data.name))
  return parts, loop.train(c, workdir, registry.task(parts), {"image": normal["image"]}).state


def _one_class_simclr_scores(config, normal: dict, test: dict, workdir: str) -> np.ndarray:
  """SimCLR trained (or resumed) on the normal class only; the score is the mean distance between
  a test image's unit-normalised features and its `knn_k` nearest normal train images'."""
  parts, state = _one_class_train(one_class_simclr_config(config, int(normal["label"][0])), "pretrain",
                                  normal, workdir)
  unit = [anomaly_lib.unit(map_in_chunks(lambda x: parts.encode(state, x), split["image"]))
          for split in (normal, test)]
  return anomaly_lib.knn_distance(*unit, config.anomaly.knn_k)


def _one_class_scores(config, model: str, normal: dict, test: dict, workdir: str) -> np.ndarray:
  """Trains (or resumes) the one-class model in `workdir` and scores every test image with its
  objective's anomaly score."""
  parts, state = _one_class_train(one_class_config(config, model, int(normal["label"][0])), "autoencoder",
                                  normal, workdir)
  x_test = test["image"].astype(np.float32) / 255.0
  return parts.anomaly_score(state, x_test, jax.random.key(config.seed), config.anomaly.elbo_samples)


def _normal_count(train: dict, name: str) -> int:
  # Every normal class trains on as many images as the smallest class has, so the one-class
  # models share one compiled train step.
  return int(np.bincount(train["label"], minlength=data_lib.num_classes(name)).min())


def _trial(folder: str, seed: int, array_name: str, total: int, desc: str, unit: str, train: Callable) -> dict:
  """The result of one resumable trial of a study (DEC, IDEC, SCAN, N2D, Deep SVDD, GEOM): read back from
  FOLDER/seedN.json once finished, else `train(trial_dir, progress)` -> (result, array) is run,
  resuming from trial_dir's checkpoints. The array is saved as seedN_ARRAY_NAME.npy first and the
  json last, so its presence means both are complete; then the checkpoints are removed."""
  path = os.path.join(folder, f"seed{seed}.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  trial_dir = os.path.join(folder, f"seed{seed}")
  bar = tqdm(total=total, desc=desc, unit=unit, mininterval=2.0, dynamic_ncols=True, leave=False)
  try:
    result, array = train(trial_dir, lambda done: bar.update(done - bar.n))
  finally:
    bar.close()
  result = {k: v if not isinstance(v, float) or np.isfinite(v) else None for k, v in result.items()}  # strict JSON
  files.save_npy(os.path.join(folder, f"seed{seed}_{array_name}.npy"), array)
  files.write_json(path, result)
  checkpoint.remove_trial(trial_dir)
  return result


def _seeded_trial_scores(method, block, epochs: int, label: str, normal: dict, test: dict, seed: int,
                         folder: str) -> np.ndarray:
  """The test scores of one trial of a seeded one-class method (the deep_svdd or geom module, whose
  `fit` takes its block), trained, resumed or read back (`_trial`)."""

  def train(trial_dir, progress):
    result = method.fit(block, normal["image"], test["image"], seed, trial_dir, progress=progress)
    return result, result.pop("scores")

  _trial(folder, seed, "scores", epochs, f"{label} class {int(normal['label'][0])} seed {seed}", "epoch", train)
  return np.load(os.path.join(folder, f"seed{seed}_scores.npy"))


def _save_extremes(path: str, test: dict, extremes: dict, class_names, per_side: int = 8) -> None:
  """Per normal class, its test images Deep SVDD (first seed) scores most normal (left) and most
  anomalous (right), as the paper's Figure 3."""
  rows = []
  for c, scores in extremes.items():
    own = np.flatnonzero(test["label"] == c)
    ranked = own[np.argsort(scores[own], kind="stable")]
    side = min(per_side, len(ranked) // 2)  # a small test class: fewer, and blanks between
    row = test["image"][np.concatenate([ranked[:side], ranked[len(ranked) - side:]])].astype(np.float32) / 255.0
    blank = np.zeros((per_side - side, *row.shape[1:]), np.float32)
    rows.append(np.concatenate([row[:side], blank, blank, row[side:]]))
  images = np.concatenate(rows)
  viz.save_grid(path, images, "Deep SVDD: most normal (left) and most anomalous (right) test images of each "
                f"normal class ({', '.join(class_names[c] for c in extremes)})", ncol=2 * per_side)


def anomaly_table(encoded, train: dict, test: dict, config, workdir: str) -> dict:
  """AUROC of every method for each normal class: {method: {"per_class": [...], "mean": m}};
  methods with several seeds (Deep SVDD, GEOM) also hold "per_seed" ([class][seed]), "per_class_std" and
  "mean_std" (the std over seeds of the mean over classes)."""
  num_classes = data_lib.num_classes(config.data.name)
  classes = list(config.anomaly.classes) or list(range(num_classes))
  methods = config.anomaly.methods
  per_class = _normal_count(train, config.data.name)
  flat_test = _flat(test["image"])
  out, extremes = {}, {}
  for c in tqdm(classes, desc="one-class protocol"):
    rows = np.flatnonzero(train["label"] == c)[:per_class]
    normal = {k: v[rows] for k, v in train.items()}
    is_anomaly = test["label"] != c
    scores, seeded = {}, {}
    if "pca" in methods:
      fitted = pca_lib.fit(_flat(normal["image"]), config.anomaly.pca_dim)
      scores[f"pca {config.anomaly.pca_dim} recon"] = np.mean(
          np.square(fitted.decode(fitted.encode(flat_test)) - flat_test), axis=1)
    if "autoencoder" in methods:
      scores["one-class AE recon"] = _one_class_scores(
          config, "autoencoder", normal, test, os.path.join(workdir, "anomaly", f"autoencoder_c{c}"))
    if "vae" in methods:
      scores["one-class VAE -ELBO"] = _one_class_scores(
          config, "vae", normal, test, os.path.join(workdir, "anomaly", f"vae_c{c}"))
    if "simclr" in methods:
      scores[f"one-class SimCLR knn {config.anomaly.knn_k}"] = _one_class_simclr_scores(
          config, normal, test, os.path.join(workdir, "anomaly", f"simclr_c{c}"))
    if "centre" in methods:
      for e in encoded:
        scores[f"centre: {e.rep.name}"] = anomaly_lib.centre_distance(e.train[rows], e.test)
    if "knn" in methods:
      for e in encoded:
        scores[f"knn {config.anomaly.knn_k}: {e.rep.name}"] = anomaly_lib.knn_distance(
            e.train[rows], e.test, config.anomaly.knn_k)
    if "deep_svdd" in methods:
      folder = os.path.join(workdir, "anomaly", f"deep_svdd_c{c}")
      seeds = list(config.anomaly.deep_svdd.seeds)
      block = config.anomaly.deep_svdd
      per_seed = [_seeded_trial_scores(deep_svdd, block, block.ae_epochs + block.epochs, "Deep SVDD", normal,
                                       test, seed, folder) for seed in seeds]
      extremes[c] = per_seed[0]
      seeded["Deep SVDD"] = (seeds, [anomaly_lib.auroc(s, is_anomaly) for s in per_seed])
    if "geom" in methods:
      folder = os.path.join(workdir, "anomaly", f"geom_c{c}")
      seeds = list(config.anomaly.geom.seeds)
      block = config.anomaly.geom
      per_seed = [_seeded_trial_scores(geom, block, block.epochs, "GEOM", normal, test, seed, folder)
                  for seed in seeds]
      for i, name in enumerate(("GEOM Dirichlet", "GEOM simple")):
        seeded[name] = (seeds, [anomaly_lib.auroc(s[i], is_anomaly) for s in per_seed])
    for name, s in scores.items():
      out.setdefault(name, {"per_class": []})["per_class"].append(anomaly_lib.auroc(s, is_anomaly))
    for name, (seeds, aurocs) in seeded.items():
      out.setdefault(name, {"per_class": [], "per_seed": [], "seeds": seeds})["per_seed"].append(aurocs)
  for row in out.values():
    row["classes"] = classes
    if "per_seed" in row:
      per_seed = np.asarray(row["per_seed"])  # (classes, seeds)
      ddof = 1 if per_seed.shape[1] > 1 else 0  # the sample std, as the clustering rows
      row.update(per_class=per_seed.mean(1).tolist(), per_class_std=per_seed.std(1, ddof=ddof).tolist(),
                 mean_std=float(per_seed.mean(0).std(ddof=ddof)))
    row["mean"] = float(np.mean(row["per_class"]))
  if extremes:
    _save_extremes(os.path.join(workdir, "deep_svdd_extremes.png"), test, extremes,
                   data_lib.spec(config.data.name).class_names)
  return out


def _fmt(value, digits: int = 4) -> str:
  return "-" if value is None else f"{value:.{digits}f}"


def markdown(summary: dict) -> str:
  """The three tables of a run as markdown."""
  name = summary["dataset"]
  lines = [f"## Representations of {name}", "",
           f"kNN (k={summary['knn']['k']}, cosine; train split -> test) and test reconstruction "
           "error (MSE per pixel):", "", "| method | dim | kNN accuracy | test MSE |", "|---|---|---|---|"]
  lines += [f"| {r['method']} | {r['dim']} | {100 * r['knn_accuracy']:.2f} | {_fmt(r['test_mse'])} |"
            for r in summary["reduction"]]
  c = summary["clustering"]
  lines += ["", f"Clustering, k = number of classes, on the {c['split']} split ({c['examples']} images), "
            f"mean ± std over seeds {c['seeds']} (DEC, IDEC, SCAN and N2D: one trial per seed):", "",
            "| method | algorithm | ACC | ACC min-max | NMI | ARI |", "|---|---|---|---|---|---|"]
  lines += [f"| {r['method']} | {r['algorithm']} | {r['acc_mean']:.4f} ± {r['acc_std']:.4f} | "
            f"{r['acc_min']:.3f}-{r['acc_max']:.3f} | "
            + " | ".join(f"{r[m + '_mean']:.4f} ± {r[m + '_std']:.4f}" for m in ("nmi", "ari")) + " |"
            for r in c["rows"]]
  a = summary["anomaly"]
  if a:
    classes = next(iter(a.values()))["classes"]
    lines += ["", "One-class anomaly detection, AUROC (normal class in the columns; the whole test "
              "split scored):", "", "| method | " + " | ".join(str(k) for k in classes) + " | mean |",
              "|---" * (len(classes) + 2) + "|"]
    for m, row in a.items():
      stds = row.get("per_class_std")
      cells = [f"{v:.3f}" + (f" ± {stds[i]:.3f}" if stds else "") for i, v in enumerate(row["per_class"])]
      mean = f"{row['mean']:.4f}" + (f" ± {row['mean_std']:.4f}" if stds else "")
      lines.append(f"| {m} | " + " | ".join(cells) + f" | {mean} |")
    for m, row in a.items():
      if "seeds" in row:
        lines += ["", f"{m}: mean ± std over seeds {row['seeds']} (of each class's AUROC, and of the mean over "
                  "classes)."]
  return "\n".join(lines) + "\n"


def _first(split: dict, n: int) -> dict:
  return {k: v[:n] for k, v in split.items()} if n else split


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Every table and figure for `config.sources`; writes summary.json, representations.md, PNGs."""
  check(config)
  name = config.data.name
  train, test = data_lib.load_splits(config.data)
  train, test = _first(train, config.train_examples), _first(test, config.test_examples)
  sources = [load_source(path, name) for path in config.sources]  # refuses bad sources first
  check_deep_clustering(config, sources, len(_clustered(train, test, config.clustering.split, "label")))
  drawn = min(config.maps.examples, len(test["label"]))
  if config.maps.method == "umap" and drawn <= config.maps.neighbours:
    raise UsageError(f"maps.neighbours {config.maps.neighbours} needs more than that many test images; "
                     f"{drawn} are drawn")
  if "deep_svdd" in config.anomaly.methods:
    deep_svdd.check_size(config.anomaly.deep_svdd, _normal_count(train, name))
  with files.workdir_lock(workdir):
    workdir_lib.start(config, workdir, defaults=study_configs.base())
    return _study(config, workdir, train, test, sources)


def _study(config, workdir, train, test, sources) -> dict:
  name = config.data.name
  t0 = time.perf_counter()
  class_names = data_lib.spec(name).class_names
  reps = [raw_pixels(), pca_representation(train["image"], config.pca_dim), *sources]
  seconds = {}

  def timed(key, fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    seconds[key] = round(time.perf_counter() - start, 1)
    return value

  encoded = timed("features", encode_splits, reps, train, test)
  without_pca = [e for e in encoded if e.rep.kind != "pca"]
  reduction = timed("reduction", reduction_table, encoded, train, test, config)
  panels = timed("maps", maps, without_pca, test, config, os.path.join(workdir, "maps.png"), class_names)
  cluster_rows = timed("clustering", clustering_table, encoded, train, test, config, workdir)
  anomaly = {}
  if config.anomaly.methods:
    anomaly = timed("anomaly", anomaly_table, without_pca, train, test, config, workdir)
    viz.save_score_table(os.path.join(workdir, "anomaly.png"),
                         {m: row["per_class"] for m, row in anomaly.items()},
                         [class_names[c] for c in next(iter(anomaly.values()))["classes"]],
                         f"{name}: one-class anomaly detection, AUROC (normal class in the columns)")
  examples = len(test["label"]) + (len(train["label"]) if config.clustering.split == "all" else 0)
  summary = {"dataset": name, "sources": list(config.sources), "knn": config.knn.to_dict(),
             "reduction": reduction, "maps": panels,
             "clustering": {"split": config.clustering.split, "examples": examples,
                            "seeds": list(config.clustering.seeds), "rows": cluster_rows},
             "anomaly": anomaly, "seconds": {**seconds, "total": round(time.perf_counter() - t0, 1)}}
  files.write_text(os.path.join(workdir, "representations.md"), markdown(summary))
  files.write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  return summary
