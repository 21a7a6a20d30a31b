"""Configs for experiments/representations.py: what unsupervised representations are for.

Variants (`--config=experiments/configs/representations.py:VARIANT`):
  default        MNIST; the sources are the workdirs of the reference runs (docs/results.md).
  fashion_mnist  the same on Fashion-MNIST.
  dec            DEC and IDEC on all 70,000 MNIST images, 10 trials (Xie et al. 2016's protocol).
  scan_fashion   SCAN on all 70,000 Fashion-MNIST images, 10 trials, from a conv autoencoder.
  n2d            N2D (UMAP, then a Gaussian mixture) on all 70,000 MNIST images, 10 trials, DEC's codes.
  n2d_fashion    the same on Fashion-MNIST.
  deep_svdd      Deep SVDD one-class on MNIST, every class, 3 seeds (Ruff et al. 2018), CPU budget.
  geom           GEOM one-class on MNIST, every class, 3 seeds (Golan & El-Yaniv 2018).
  geom_fashion   the same on Fashion-MNIST.
  smoke          seconds on CPU; used by the tests (pass --config.sources).
Reference commands and the figures they reached are in docs/results.md.
"""

import ml_collections

from jaxunsup.configs import from_variant, shared_fields
from jaxunsup.configs.pretrain_finetune import augment_fields


def _reference_sources(dataset: str, simclr: str) -> tuple:
  """The workdirs the reference commands (docs/results.md) write for `dataset` (mnist | fashion)."""
  return (f"runs/pf_{dataset}/pretrain/autoencoder", f"runs/{simclr}/pretrain/simclr",
          f"runs/vae_iwae_{dataset}", f"runs/ae2d_{dataset}")


def _deep_clustering(**fields) -> dict:
  return {"alpha": 1.0, "update_interval": 140, "tol": 0.001, "max_iter": 20000, "batch_size": 256,
          "n_init": 20, "checkpoint_updates": 10, **fields}


def base() -> ml_collections.ConfigDict:
  """Every field a representations run reads; variants override a few."""
  c = shared_fields()
  # Trained workdirs whose encoders are compared: autoencoder-family runs (experiments/autoencoder.py,
  # or pretrain/autoencoder|denoising of a pretrain_finetune run) and SimCLR pretraining runs. Raw
  # pixels and PCA are always there as baselines. A source with a 2-d code is drawn as it is.
  c.sources = _reference_sources("mnist", simclr="simclr10k_mnist")
  c.train_examples = 0       # use the first N images of each split (0 = all); for quick looks
  c.test_examples = 0
  c.pca_dim = 32
  c.knn = ml_collections.ConfigDict({"k": 20, "temperature": 0.1})   # cosine, train split -> test
  # maps.png: the first `examples` test images of each representation in 2-d, by t-SNE
  # (perplexity, iterations) or UMAP (eval/umap.py: neighbours, min_dist; the reference's defaults)
  c.maps = ml_collections.ConfigDict({"method": "tsne", "examples": 3000, "perplexity": 30.0, "iterations": 1000,
                                      "neighbours": 15, "min_dist": 0.1})
  c.clustering = ml_collections.ConfigDict({
      # test | all (train + test, as DEC reports MNIST; spectral then takes minutes per method)
      "split": "test",
      "algorithms": ("kmeans", "spectral"),
      "baselines": True,       # cluster raw pixels and PCA too (minutes each on all 70,000 images)
      "seeds": (0, 1, 2, 3, 4),
      "n_init": 10,            # kmeans: each seed keeps the best of n_init starts
      "spectral_neighbors": 10,  # spectral: the k of the nearest-neighbour graph
      # dec | idec (objectives/dec.py) train each plain autoencoder source's encoder with the
      # centres, one trial per seed: k-means (best of n_init) starts it, the target is sharpened
      # every update_interval steps, and it stops when under tol of the labels change between two
      # updates, or after max_iter steps (rounded up to whole updates). DEC as DEC-keras (Xie et al. 2016's settings); IDEC with
      # the reconstruction term weighted 1 against gamma for the KL, Adam as its paper uses on MNIST.
      "dec": _deep_clustering(optimizer="sgd", learning_rate=0.01, momentum=0.9, gamma=0.0),
      "idec": _deep_clustering(optimizer="adam", learning_rate=1e-3, momentum=0.0, gamma=0.1),
      # scan (objectives/scan.py, Van Gansbeke et al. 2020) trains a Dense-ReLU-Dense head on every
      # representation's frozen features: scan_steps of the neighbour-agreement loss (batch_size
      # anchors, each with one of its `neighbours` nearest images), then self_label_steps of
      # self-labelling (batch self_label_batch) on the images above `threshold`; the paper's
      # entropy weight, neighbours and threshold. AdamW at 1e-3, not the paper's 1e-4 (which trains
      # a whole network): a head alone at 1e-4 for 8000 steps clustered MNIST codes at ACC 0.65,
      # at 1e-3 0.80 (3 trials). Self-labelling is off by default: on frozen features 2000 steps
      # of it emptied 2-3 of the 10 clusters in every Fashion-MNIST trial and cut ACC from 0.66
      # to 0.50 (docs/results.md). Augmented views: `views` copies of every image under `augment`
      # (the sweep's SimCLR views), encoded once per source. `heads` trained side by side, the one
      # with the lowest SCAN loss kept (the paper trains 10).
      "scan": {"heads": 1, "neighbours": 20, "entropy_weight": 5.0, "hidden": 512, "batch_size": 256,
               "scan_steps": 24000, "self_label_batch": 1000, "self_label_steps": 0, "threshold": 0.99,
               "learning_rate": 1e-3, "weight_decay": 1e-4, "views": 4, "checkpoint_steps": 1000,
               "augment": augment_fields(crop_min_area=0.6, noise_std=0.1, cutout=8).to_dict()},
      # n2d (eval/n2d.py, McConville et al. 2020): UMAP of the features to `dim` dimensions (0: k)
      # with `neighbours` neighbours (the paper's 20 for MNIST) and min_dist 0, then a Gaussian
      # mixture with `covariance` covariances, the likeliest of `n_init` EM runs (the paper's 1);
      # UMAP's `epochs` (its 200 for large data), `negatives` per edge sample, `spread`, and
      # `batches`: the groups of edges applied at once.
      "n2d": {"neighbours": 20, "dim": 0, "epochs": 200, "min_dist": 0.0, "spread": 1.0, "negatives": 5,
              "batches": 10, "covariance": "full", "n_init": 1},
  })
  c.anomaly = ml_collections.ConfigDict({
      "classes": (),           # normal classes, one protocol run each; () = every class
      "methods": ("pca", "autoencoder", "vae", "simclr", "centre", "knn"),
      "pca_dim": 16,           # pca: reconstruction error under the normal class's PCA
      "elbo_samples": 10,      # vae: the score is -ELBO averaged over this many posterior samples
      "knn_k": 5,              # knn and simclr: mean distance to the k nearest normal train features
      # One-class models, trained on the normal class of the train split (autoencoder-family fields).
      "autoencoder": {"model": {"name": "conv", "features": (16, 32), "latent_dim": 16},
                      "train": {"batch_size": 128, "steps": 1000, "learning_rate": 1e-3,
                                "schedule": "cosine"}},
      # simclr: the pretrain_finetune encoder and SimCLR fields (augment as pretrain_finetune's).
      "simclr": {"model": {"features": (32, 64), "rep_dim": 128},
                 "pretrain": {"batch_size": 256, "steps": 500, "learning_rate": 1e-3,
                              "temperature": 0.5, "proj_hidden": 256, "proj_dim": 64},
                 "augment": {"crop_min_area": 0.6, "noise_std": 0.1, "cutout": 8}},
      "vae": {"model": {"name": "vae", "hidden": (400, 200), "latent_dim": 16},
              "train": {"batch_size": 128, "steps": 1000, "learning_rate": 1e-3,
                        "schedule": "cosine"}},
      # deep_svdd (objectives/deep_svdd.py): Ruff et al. 2018's protocol for 28x28 images, one
      # trial per seed and class: the bias-free LeNet autoencoder pretrained ae_epochs, then the
      # encoder trained `epochs` on the one-class objective; Adam, learning rate cut by 10 at each
      # phase's milestone epoch, L2 weight decay as the paper's code. About an hour per trial on a CPU:
      # the deep_svdd variant is the CPU budget.
      "deep_svdd": {"features": (8, 4), "rep_dim": 32, "batch_size": 200, "learning_rate": 1e-4,
                    "ae_epochs": 350, "ae_milestone": 250, "ae_weight_decay": 5e-4,
                    "epochs": 250, "milestone": 150, "weight_decay": 5e-7,
                    "eps": 0.1, "seeds": (0, 1, 2), "checkpoint_epochs": 10},
      # geom (objectives/geom.py): Golan & El-Yaniv 2018, one trial per seed and class: a classifier
      # of the 72 flips, translations by `shift` pixels (8 of their 32; 7 of 28 here) and quarter
      # turns, trained `epochs` passes over every (image, transformation) pair. They train a
      # WideResNet-16-8 ceil(200 / 72) = 3 epochs with Adam at batch 128; here the conv encoder
      # of the label sweep, with two convs per stage.
      "geom": {"features": (32, 64), "rep_dim": 128, "stage_convs": 2, "shift": 7, "batch_size": 128,
               "epochs": 3, "learning_rate": 1e-3, "seeds": (0, 1, 2)},
  })
  return c


def default(c):
  """python experiments/representations.py --config=experiments/configs/representations.py \\
      --workdir=runs/representations_mnist
  Reached clustering ACC 0.825 (spectral, SimCLR features) and one-class AUROC 0.969 (one-class
  SimCLR), 24.6 min on 2 CPU cores, shared."""
  del c


def fashion_mnist(c):
  """python experiments/representations.py --config=experiments/configs/representations.py:fashion_mnist \\
      --workdir=runs/representations_fashion
  Reached one-class AUROC 0.906 (one-class conv autoencoder), 19.9 min on 2 CPU cores."""
  c.data.name = "fashion_mnist"
  c.sources = _reference_sources("fashion", simclr="pf_fashion")  # the sweep's 6000-step SimCLR


def smoke(c):
  """Seconds on CPU; the tests run it with their own --config.sources."""
  c.sources = ()
  c.train_examples, c.test_examples = 3000, 1000
  c.pca_dim = 8
  c.maps.update(examples=200, perplexity=10.0, iterations=250)
  c.clustering.update(split="test", seeds=(0, 1), n_init=1)
  for name in ("dec", "idec"):
    c.clustering[name].update(update_interval=5, max_iter=20, batch_size=64, n_init=1, checkpoint_updates=2)
  c.clustering.scan.update(neighbours=5, hidden=32, batch_size=64, scan_steps=40, self_label_batch=128,
                           self_label_steps=20, views=2, checkpoint_steps=20)
  c.clustering.n2d.update(neighbours=5, epochs=20, batches=2)
  c.anomaly.update(classes=(0,), pca_dim=4, elbo_samples=2)
  c.anomaly.autoencoder.model.update(features=(8, 16), latent_dim=4)
  c.anomaly.vae.model.update(hidden=(32,), latent_dim=4)
  for name in ("autoencoder", "vae"):
    c.anomaly[name].train.update(batch_size=32, steps=20)
  c.anomaly.simclr.model.update(features=(8, 16), rep_dim=16)
  c.anomaly.simclr.pretrain.update(batch_size=32, steps=20, proj_hidden=32, proj_dim=16,
                                   eval_examples=64)
  c.anomaly.deep_svdd.update(batch_size=32, learning_rate=1e-3, ae_epochs=1, ae_milestone=1, epochs=2, milestone=1,
                             seeds=(0,))
  c.anomaly.geom.update(features=(4, 8), rep_dim=8, stage_convs=1, batch_size=256, epochs=1, seeds=(0,))


def dec(c):
  """DEC and IDEC on MNIST as DEC reports it: all 70,000 images, 10 trials, from the 784-500-500-2000-10
  autoencoder of experiments/configs/autoencoder.py:dec (train that first):
  python experiments/representations.py --config=experiments/configs/representations.py:dec \\
      --workdir=runs/dec_mnist
  With --config.clustering.algorithms="('kmeans','dec')": DEC ACC 0.882 +- 0.0005 over the 10
  trials (k-means of the codes 0.823), 47.4 min on 2 CPU cores (Zen 3)."""
  c.sources = ("runs/dec_ae_mnist",)
  c.clustering.update(split="all", algorithms=("kmeans", "dec", "idec"), seeds=tuple(range(10)), n_init=20,
                      baselines=False)
  c.anomaly.methods = ()


def scan_fashion(c):
  """SCAN on all 70,000 Fashion-MNIST images, 10 trials, on the codes of a conv autoencoder (train it
  first: python experiments/autoencoder.py --config=experiments/configs/autoencoder.py \
      --workdir=runs/conv_fashion --config.model.name=conv --config.data.name=fashion_mnist):
  python experiments/representations.py --config=experiments/configs/representations.py:scan_fashion \
      --workdir=runs/scan_fashion
  ACC 0.663 +- 0.047 over the 10 trials; with --config.clustering.scan.heads=10 (the paper's ten
  heads, the lowest loss kept) 0.709 +- 0.001 over seeds 0-2."""
  c.data.name = "fashion_mnist"
  c.sources = ("runs/conv_fashion",)
  c.clustering.update(split="all", algorithms=("kmeans", "scan"), seeds=tuple(range(10)), baselines=False)
  c.anomaly.methods = ()


def n2d(c):
  """N2D on MNIST as its paper and DEC report it: all 70,000 images, 10 trials, on the codes of the
  784-500-500-2000-10 autoencoder of experiments/configs/autoencoder.py:dec (train that first):
  python experiments/representations.py --config=experiments/configs/representations.py:n2d \\
      --workdir=runs/n2d_mnist
  ACC 0.962 +- 0.046 over the 10 trials, 9 of them at 0.977 (in the tenth the one mixture fit
  merged 4 and 9); with --config.clustering.n2d.n_init=10, 0.977 +- 0.0001. 32 min on 2 CPU
  cores (Zen 4), shared."""
  c.sources = ("runs/dec_ae_mnist",)
  c.clustering.update(split="all", algorithms=("kmeans", "n2d"), seeds=tuple(range(10)), baselines=False)
  c.anomaly.methods = ()


def n2d_fashion(c):
  """N2D on all 70,000 Fashion-MNIST images, 10 trials, on the codes of the same autoencoder trained
  on Fashion-MNIST (python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:dec \\
      --workdir=runs/dec_ae_fashion --config.data.name=fashion_mnist):
  python experiments/representations.py --config=experiments/configs/representations.py:n2d_fashion \\
      --workdir=runs/n2d_fashion
  ACC 0.626 +- 0.026 (0.584-0.670), NMI 0.687 over the 10 trials; with n_init=10 0.635 +- 0.035."""
  n2d(c)
  c.data.name = "fashion_mnist"
  c.sources = ("runs/dec_ae_fashion",)


def _one_class_only(c, method: str) -> None:
  """A study of one seeded one-class method against PCA, with no sources and the least clustering."""
  c.sources = ()
  c.clustering.update(algorithms=("kmeans",), seeds=(0,))
  c.anomaly.methods = ("pca", method)


# Deep SVDD without pretraining (the paper's ablation), without weight decay, or with the centre
# left where the mean code falls.
# SCAN without self-labelling, weight decay, the entropy term or any one transform.
ZERO_ALLOWED = ("anomaly.deep_svdd.ae_epochs", "anomaly.deep_svdd.ae_weight_decay",
                "anomaly.deep_svdd.weight_decay", "anomaly.deep_svdd.eps", "clustering.scan.self_label_steps",
                "clustering.scan.weight_decay", "clustering.scan.entropy_weight",
                *(f"clustering.scan.augment.{name}" for name in ("max_shift", "brightness", "contrast",
                                                                 "noise_std", "cutout")))


def deep_svdd(c):
  """Deep SVDD on MNIST, every class as the normal one, 3 seeds each, under a CPU budget: the
  paper's protocol (350 + 250 epochs at learning rate 1e-4) takes about an hour per trial on 2
  CPU cores, so 10 + 15 epochs at 1e-3 (cut by 10 for the last 2 and 3):
  python experiments/representations.py --config=experiments/configs/representations.py:deep_svdd \
      --workdir=runs/deep_svdd_mnist
  Raw pixels and PCA are the baselines; no sources."""
  _one_class_only(c, "deep_svdd")
  c.anomaly.deep_svdd.update(learning_rate=1e-3, ae_epochs=10, ae_milestone=8, epochs=15, milestone=12)


def geom(c):
  """GEOM on MNIST, every class as the normal one, 3 seeds each (Golan & El-Yaniv 2018's protocol):
  python experiments/representations.py --config=experiments/configs/representations.py:geom \
      --workdir=runs/geom_mnist
  Raw pixels and PCA are the baselines; no sources."""
  _one_class_only(c, "geom")


def geom_fashion(c):
  """GEOM on Fashion-MNIST, as `geom`:
  python experiments/representations.py --config=experiments/configs/representations.py:geom_fashion \
      --workdir=runs/geom_fashion"""
  geom(c)
  c.data.name = "fashion_mnist"


VARIANTS = {"default": default, "fashion_mnist": fashion_mnist, "dec": dec, "scan_fashion": scan_fashion,
            "n2d": n2d, "n2d_fashion": n2d_fashion,
            "deep_svdd": deep_svdd, "geom": geom, "geom_fashion": geom_fashion, "smoke": smoke}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
