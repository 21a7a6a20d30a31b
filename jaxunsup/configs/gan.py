"""Configs for experiments/gan.py: GANs on MNIST / Fashion-MNIST.

Variants (`--config=experiments/configs/gan.py:VARIANT`):
  default        DCGAN on MNIST, a short run.
  smoke          seconds on CPU; two checkpoints; used by the tests.
  mlp            the Dense generator and discriminator, non-saturating loss.
  dcgan          DCGAN-style convnets, non-saturating loss (MNIST reference).
  wgan_gp        the same convnets as a WGAN-GP, 5 critic updates per generator update.
  cgan           class-conditional DCGAN, projection discriminator.
  sngan          the DCGAN networks with a spectrally normalised discriminator, the hinge loss
                 and DiffAugment (color, translation, cutout).
  infogan        dcgan with a 10-valued and 2 continuous codes the discriminator learns to read
                 (Chen et al. 2016's MNIST setting).
  dcgan_fashion  dcgan on Fashion-MNIST.
Reference commands and the figures they reached are in docs/results.md.
"""

import ml_collections

from jaxunsup.configs import from_variant, shared_fields


def base() -> ml_collections.ConfigDict:
  """Every field a GAN run reads; variants override a few."""
  c = shared_fields()
  c.model = ml_collections.ConfigDict({
      "name": "dcgan",            # mlp | dcgan | wgan_gp | cgan | sngan | infogan
      "latent_dim": 64,
      "hidden": (256, 512),       # mlp generator layers, z side first; the discriminator mirrors them
      "gen_features": (128, 64),  # dcgan generator channels at H/4 and H/2
      "gen_kernel": 3,            # kernel of the sub-pixel convs
      "gen_batch_norm": True,
      "gen_upsampling": "subpixel",  # or transposed (textbook ConvTranspose; slow on XLA's CPU backend)
      "disc_features": (64, 128), # dcgan discriminator channels, one stride-2 conv each
      "disc_kernel": 4,
      "disc_conv_impl": "xla",    # or patches: the same convs as patch matmuls (fast gradient penalty on CPU)
      "conditioning": "projection",  # cgan discriminator: projection | concat
      "codes": 10,                # infogan: values of its categorical code
      "continuous_codes": 0,      # infogan: continuous codes beside it, U(-1, 1) each (the paper's 2)
      "spectral_norm": False,     # divide each discriminator weight by its largest singular value
      "init": "lecun",            # layer initialisers: lecun (Flax's) | torch (PyTorch's U(+-1/sqrt(fan_in)))
      "ema_decay": 0.999,         # EMA of generator weights, scored separately; 0 turns it off
  })
  c.train = ml_collections.ConfigDict({
      "batch_size": 128, "steps": 3000,
      "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.5, "beta2": 0.999,
      "n_critic": 5, "gp_weight": 10.0,   # wgan_gp only
      "diff_augment": "",         # DiffAugment policy on every discriminator input: color,translation,cutout
      "r1_weight": 0.0,           # gamma of the R1 penalty on real images (not wgan_gp); 0 turns it off
      "info_weight": 1.0,         # infogan: weight of the mutual-information bound
      "log_every": 100, "eval_every": 1000, "checkpoint_every": 1000, "max_to_keep": 3,
      "loop": "auto",             # auto | device | host: how steps are dispatched (train/loop.py)
  })
  c.eval = ml_collections.ConfigDict({
      "num_samples": 10000,       # scored at the end and written to samples.npy
      "periodic_samples": 2000,   # scored at each periodic eval
      "k": 3,                     # neighbours for precision / recall
      "grid_samples": 10,         # fixed-noise samples per periodic eval, for progress.png
  })
  return c


def smoke(c):
  """Seconds on CPU, two checkpoints; the tests run it."""
  c.model.update(latent_dim=16, hidden=(32, 64), gen_features=(16, 8), disc_features=(8, 16))
  c.train.update(batch_size=32, steps=20, n_critic=2, log_every=5, eval_every=10, checkpoint_every=10)
  c.eval.update(num_samples=200, periodic_samples=100)


def mlp(c):
  c.model.update(name="mlp", hidden=(256, 512, 1024))
  c.train.update(steps=20000, eval_every=2500, checkpoint_every=2500)


def dcgan(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:dcgan --workdir=runs/dcgan
  Reached FID 22.04, precision 0.405, recall 0.803, 10 classes (27.3 min on 2 CPU cores).
  With --config.model.init=torch (PyTorch's initialisers): FID 20.21 +- 1.54 over seeds 0, 1, 2
  (18.51, 20.60, 21.51; precision 0.410 +- 0.018), 10 classes; with 12000 steps as well, 15.95
  (EMA 15.03), precision 0.465: about 26 minutes on a 2-core Zen 5, 50 on a Zen 4 (docs/results.md).
  With init=torch and --config.train.gen_lr=1e-3 (InfoGAN's generator rate): FID 8.57, precision
  0.483, recall 0.852 at 7000 steps (seed 0); seed 1 reached 9.42."""
  # about 220 ms a step at batch 128 on 2 CPU cores: 7000 steps (15 epochs) fit the 30-minute
  # budget. Batch 64 for 14000 steps, the same examples, reached fid 24.3 and 9 classes (docs/results.md).
  c.train.update(steps=7000)


def wgan_gp(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:wgan_gp --workdir=runs/wgan_gp
  Reached FID 33.06, precision 0.398, recall 0.747, 10 classes (28.1 min on 2 CPU cores)."""
  # about 0.46 s per generator step (five critic updates of 64 images) on 2 CPU cores
  c.model.update(name="wgan_gp", gen_batch_norm=True, disc_conv_impl="patches")
  c.train.update(batch_size=64, steps=3200, gen_lr=1e-4, disc_lr=1e-4, beta1=0.5, beta2=0.9, n_critic=5,
                 eval_every=800, checkpoint_every=800)


def cgan(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:cgan --workdir=runs/cgan
  Reached FID 6.99, precision 0.772, recall 0.702, 10 classes (27.4 min on 2 CPU cores)."""
  # about 106 ms a step at batch 64 on 2 CPU cores
  c.model.name = "cgan"
  c.train.update(batch_size=64, steps=14000, eval_every=2000, checkpoint_every=2000)


def sngan(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:sngan --workdir=runs/sngan
  Reached FID 47.30, precision 0.423, recall 0.442, 9 classes (24.6 min training on 2 CPU cores):
  worse than dcgan at the same steps; docs/results.md has the curve."""
  dcgan(c)
  c.model.update(name="sngan", spectral_norm=True)
  c.train.diff_augment = "color,translation,cutout"


def infogan(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:infogan --workdir=runs/infogan
  The dcgan run with PyTorch's initialisers and the paper's MNIST latents and learning rates: 62
  noise dimensions, a 10-valued code and 2 continuous ones, the generator at 1e-3. Reached FID
  13.19, precision 0.570, recall 0.423, code accuracy 0.730 (29 min of training on a 2-core Zen 4);
  over seeds 0-2, FID 13.26 +- 1.39, code accuracy 0.61 +- 0.11 (docs/results.md). The code
  alone at the dcgan learning rates reached code accuracy 0.41."""
  dcgan(c)
  c.model.update(name="infogan", init="torch", latent_dim=62, continuous_codes=2)
  c.train.gen_lr = 1e-3  # Chen et al. 2016's MNIST setting; the discriminator keeps 2e-4


def dcgan_fashion(c):
  """python experiments/gan.py --config=experiments/configs/gan.py:dcgan_fashion --workdir=runs/dcgan_fashion
  Reached FID 17.38, precision 0.447, recall 0.656 on Fashion-MNIST (27.3 min on 2 CPU cores)."""
  dcgan(c)
  c.data.name = "fashion_mnist"


VARIANTS = {"default": lambda c: None, "smoke": smoke, "mlp": mlp, "dcgan": dcgan,
            "wgan_gp": wgan_gp, "cgan": cgan, "sngan": sngan, "infogan": infogan,
            "dcgan_fashion": dcgan_fashion}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
