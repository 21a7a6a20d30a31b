"""Configs for experiments/pretrain_finetune.py: unsupervised pretraining, then a label sweep.

Variants (`--config=experiments/configs/pretrain_finetune.py:VARIANT`):
  default        every objective on MNIST, the full label sweep (the reference run in docs/results.md).
  fashion_mnist  the same on Fashion-MNIST.
  cifar10        the same on CIFAR-10, which must be downloaded first (docs/data.md); untuned:
                 no copy of CIFAR-10 could be had where this was written.
  m1m2           M1+M2 (Kingma et al. 2014) with 100 MNIST labels over 5 label draws, on the VAE
                 run named by --config.finetune.init_from (autoencoder.py:m1); without it, M2 alone.
  fixmatch       FixMatch (Sohn et al. 2020) with 100 MNIST labels over 5 label draws.
  smoke     seconds on CPU; used by the tests.
Reference commands and the figures they reached are in docs/results.md.
"""

import ml_collections

from jaxunsup.configs import copy_runtime_fields, from_variant, shared_fields


def augment_fields(**overrides) -> ml_collections.ConfigDict:
  """An `augment` block (jaxunsup/augment.py); the defaults switch every transform off."""
  c = ml_collections.ConfigDict({
      "crop_min_area": 1.0,    # random resized crop: smallest area fraction kept (1 = off)
      "crop_max_ratio": 4 / 3, # and the largest aspect ratio of the crop box
      "max_shift": 0,          # random translation, pixels
      "flip": "auto",          # auto | yes | no; auto flips only mirror-symmetric datasets
      "brightness": 0.0,       # grey-level shift, uniform in +-brightness
      "contrast": 0.0,         # contrast factor about the image mean, uniform in 1 +- contrast
      "noise_std": 0.0,        # additive Gaussian noise
      "cutout": 0,             # side of a zeroed square (0 = off)
  })
  c.update(overrides)
  return c


def phase_fields(config: ml_collections.ConfigDict, objective: str,
                 phase: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Completes an objective's pretraining config `phase` with what every pretraining run of the
  experiment `config` shares: objective, seed, data, mesh and dtype, and a train block from
  `config.pretrain`. Returns `phase`."""
  p = config.pretrain
  phase.objective = objective
  phase.seed = config.seed
  phase.data = ml_collections.ConfigDict(config.data.to_dict())
  copy_runtime_fields(config, phase)
  phase.train = ml_collections.ConfigDict({
      "batch_size": p.batch_size, "steps": p.steps, "learning_rate": p.learning_rate,
      "schedule": p.schedule, "final_lr_fraction": 0.0, "weight_decay": p.weight_decay,
      "grad_clip": 0.0, "loss": p.loss, "log_every": p.log_every, "eval_every": p.eval_every,
      "checkpoint_every": p.checkpoint_every, "max_to_keep": 2, "loop": p.loop})
  return phase


def base() -> ml_collections.ConfigDict:
  """Every field a pretrain-then-fine-tune run reads; variants override a few."""
  c = shared_fields()
  c.model = ml_collections.ConfigDict({   # the one encoder backbone every objective trains
      "features": (32, 64),    # conv channels per stage; each stage halves the image
      "stage_convs": 1,        # convs per stage, the first strided
      "rep_dim": 128,          # the representation (the autoencoders' latent code)
      "activation": "relu",
  })
  c.pretrain = ml_collections.ConfigDict({
      "objectives": ("none", "autoencoder", "denoising", "simclr"),
      "batch_size": 256, "steps": 6000, "learning_rate": 1e-3, "schedule": "cosine",
      "weight_decay": 0.0,
      "log_every": 50, "eval_every": 1500, "checkpoint_every": 1500, "loop": "auto",
      "loss": "mse",           # autoencoder and denoising: mse | bce
      "noise": "mask", "noise_level": 0.3,   # denoising corruption
      "temperature": 0.5,      # simclr: NT-Xent temperature
      "proj_hidden": 256, "proj_dim": 64,    # simclr: projection head
      "eval_examples": 1000,   # test images for the periodic pretraining eval
  })
  # SimCLR's views. On MNIST at 3000 steps (10 labels per class, kNN / linear probe, %): crop 0.3,
  # two convs per stage, T 0.2: 77.5 / 86.1; crop 0.6: 80.9 / 87.2; one conv per stage (3x
  # faster): 84.4 / 89.4; T 0.5: 88.9 / 91.4.
  c.augment = augment_fields(crop_min_area=0.6, noise_std=0.1, cutout=8)
  # BYOL (objectives/byol.py) sees the same views. tau: the target's first moving-average decay,
  # rising to 1 (Grill et al. 2020 use 0.996 for 1000 ImageNet epochs; short runs need a faster
  # target). Heads: Dense-BN-ReLU-Dense, projector then predictor.
  c.byol = ml_collections.ConfigDict({"tau": 0.99, "proj_hidden": 256, "proj_dim": 64, "pred_hidden": 256})
  c.finetune = ml_collections.ConfigDict({
      "init_from": "",         # a pretraining workdir: fine-tune its encoder and skip pretraining
      "evaluations": ("linear_probe", "finetune", "knn"),
      "labels_per_class": (10, 100, 1000, 0),   # 0 = every label
      "seeds": (0, 1, 2),      # each draws its own labelled subset and head initialisation
      # A cell trains max(steps, epochs passes over its labelled set) steps: the budget grows with
      # the labels and is the same for every objective.
      "steps": 500, "epochs": 5, "batch_size": 128,
      "head_lr": 1e-3, "encoder_lr": 3e-4, "schedule": "cosine",
      "augment": True,         # augment labelled batches with `finetune_augment`
      "knn_k": 20, "knn_temperature": 0.1,
      "log_every": 100, "loop": "auto",
  })
  c.finetune_augment = augment_fields(max_shift=2)
  # The m2 evaluation (jaxunsup/semi.py, objectives/m2.py). Defaults: Kingma et al. 2014's MNIST
  # 100-label run (their code: one 300-unit softplus layer per network, 50 latents, alpha 0.1, Adam
  # 3e-4); they trained 3000 epochs, with 1 labelled and ~500 unlabelled rows a step.
  c.m2 = ml_collections.ConfigDict({
      "hidden": 300, "latent_dim": 50, "activation": "softplus", "alpha": 0.1,
      "learning_rate": 3e-4,
      "batch_size": 100,       # unlabelled rows a step, and as many labelled ones
      "steps": 60000, "eval_every": 5000,
      "active_std": 0.1,       # M1's latents whose posterior mean varies less are dropped
  })
  # The fixmatch evaluation (objectives/fixmatch.py) trains `model`'s encoder and a linear head.
  # Sohn et al. 2020's settings: B 64 labelled and mu 7 times as many unlabelled images a step,
  # threshold 0.95, lambda_u 1, SGD-Nesterov 0.03 with momentum 0.9, weight decay 5e-4; they train
  # 2^20 steps of a WideResNet-28-2. Views: weak = their flip-and-translate (12.5 %: 3 pixels;
  # digits are not flipped), strong = this project's transforms in place of RandAugment and their
  # Cutout (a scale crop, translation, grey-level jitter, noise and a 12-pixel square).
  c.fixmatch = ml_collections.ConfigDict({
      "batch_size": 64, "mu": 7, "threshold": 0.95, "lambda_u": 1.0,
      "learning_rate": 0.03, "momentum": 0.9, "weight_decay": 5e-4,
      "steps": 5000, "eval_every": 500,
      "weak": augment_fields(max_shift=3),
      "strong": augment_fields(crop_min_area=0.6, max_shift=3, brightness=0.4, contrast=0.4,
                               noise_std=0.1, cutout=12),
  })
  return c


def default(c):
  """python experiments/pretrain_finetune.py --config=experiments/configs/pretrain_finetune.py --workdir=runs/pf_mnist
  Reached, 10 labels per class: SimCLR linear probe 91.70 % (from scratch, fine-tuned: 83.29 %);
  every label: SimCLR fine-tuned 98.82 % (63 min on 2 CPU cores, shared)."""
  del c


def fashion_mnist(c):
  """python experiments/pretrain_finetune.py --config=experiments/configs/pretrain_finetune.py:fashion_mnist \\
      --workdir=runs/pf_fashion --config.pretrain.objectives="('none','autoencoder','simclr')"
  Reached, 10 labels per class: SimCLR fine-tuned 72.18 % against 69.83 % from scratch (47.6 min)."""
  c.data.name = "fashion_mnist"


def m1m2(c):
  """python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:m1 --workdir=runs/m1
  python experiments/pretrain_finetune.py --config=experiments/configs/pretrain_finetune.py:m1m2 \
      --workdir=runs/m1m2 --config.finetune.init_from=runs/m1
  Kingma et al. 2014 (Table 1): 3.33 % +- 0.14 error with 100 labels after 3000 epochs; here 100
  epochs of the unlabelled set per draw, at lr 1e-3 (at the paper's 3e-4 the first draw reached
  92.7 % test accuracy after 60000 steps, against 92.6 % after 20000 at 1e-3). Results in
  docs/results.md."""
  c.pretrain.objectives = ("none",)
  c.finetune.update(evaluations=("m2",), labels_per_class=(10,), seeds=(0, 1, 2, 3, 4))
  c.m2.learning_rate = 1e-3


def fixmatch(c):
  """python experiments/pretrain_finetune.py --config=experiments/configs/pretrain_finetune.py:fixmatch \
      --workdir=runs/fixmatch
  FixMatch (Sohn et al. 2020) with 100 MNIST labels over 5 label draws, from scratch; add
  --config.pretrain.objectives="('none','simclr')" to start it from SimCLR's encoder too.
  Results in docs/results.md."""
  c.pretrain.objectives = ("none",)
  c.finetune.update(evaluations=("fixmatch",), labels_per_class=(10,), seeds=(0, 1, 2, 3, 4))


def smoke(c):
  """Seconds on CPU; the tests run it."""
  c.model.update(features=(8, 16), stage_convs=1, rep_dim=16)
  c.pretrain.update(batch_size=32, steps=20, log_every=10, eval_every=10, checkpoint_every=10,
                    proj_hidden=32, proj_dim=16, eval_examples=64)
  c.byol.update(proj_hidden=32, proj_dim=16, pred_hidden=32)
  c.finetune.update(labels_per_class=(3,), seeds=(0, 1), steps=10, batch_size=16, log_every=5)
  c.m2.update(hidden=16, latent_dim=4, batch_size=16, steps=10, eval_every=5)
  c.fixmatch.update(batch_size=4, mu=2, steps=6, eval_every=3)
  c.data.test_examples = 2000


def cifar10(c):
  """CIFAR-10: wider stages, and SimCLR's views for natural images (stronger crops, flips through
  `flip: auto`, brightness and contrast jitter) instead of the digit views."""
  c.data.update(name="cifar10")
  c.model.update(features=(64, 128), stage_convs=2)
  c.augment = augment_fields(crop_min_area=0.2, brightness=0.4, contrast=0.4)


# m2.active_std 0 keeps every latent of M1; fixmatch.weight_decay 0 turns the decay off
ZERO_ALLOWED = ("m2.active_std", "fixmatch.weight_decay")


VARIANTS = {
    "default": default,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "m1m2": m1m2,
    "fixmatch": fixmatch,
    "smoke": smoke,
}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
