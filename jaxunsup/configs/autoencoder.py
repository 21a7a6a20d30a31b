"""Configs for experiments/autoencoder.py: the autoencoder family on MNIST / Fashion-MNIST.

Variants (`--config=experiments/configs/autoencoder.py:VARIANT`):
  default   a plain MLP autoencoder, 32-d latent.
  smoke     seconds on CPU; two checkpoints; used by the tests.
  demo      the small budget `make demo` uses for every model of the family.
  hinton    784-1000-500-250-30 deep autoencoder (Hinton & Salakhutdinov 2006).
  dec       784-500-500-2000-10, the autoencoder DEC and IDEC cluster with (Xie et al. 2016).
  vae_iwae  VAE with 2x200 tanh layers and 50 latents (Burda et al. 2016, 1-layer, k=1).
  iwae      the same model trained on the k=50 importance-weighted bound (Burda et al. 2016).
  vampprior the same model with a VampPrior of 500 pseudo-inputs (Tomczak & Welling 2018).
  m1        VAE with 2x500 softplus layers and 50 latents: M1 of M1+M2 (Kingma et al. 2014), whose
            posterior the label sweep's `m2` evaluation classifies from.
  shapes_vae, shapes_beta_vae, shapes_beta_tcvae
            VAE, beta-VAE (beta 4) and beta-TC-VAE (beta 6) with 10 latents on the shapes dataset,
            one budget for the three: their MIG and DCI against the true factors.
Reference commands and the figures they reached are in the variant functions below and in docs/results.md.
"""

import ml_collections

from jaxunsup.configs import from_variant, shared_fields


def base() -> ml_collections.ConfigDict:
  """Every field an autoencoder run reads; variants override a few."""
  c = shared_fields()
  c.model = ml_collections.ConfigDict({
      "name": "mlp",           # mlp | conv | denoising | vae | iwae | vampprior | beta_vae | beta_tcvae | vqvae
      "latent_dim": 32,
      "hidden": (512, 256),    # mlp layers, input side first; the decoder mirrors them
      "features": (16, 32),    # conv channels, input side first; each stage halves the image
      "stage_convs": 1,        # conv encoder: convs per stage (the first strided)
      "activation": "relu",
      "backbone": "mlp",       # architecture for denoising and vae: mlp | conv
      "noise": "mask",         # denoising corruption: mask | gaussian
      "noise_level": 0.3,      # masked fraction, or Gaussian std
      # vqvae: latent_dim / code_dim codes, each one of codebook_size codewords (8 bytes at 32/4/256)
      "codebook_size": 256, "code_dim": 4,
      "commitment": 0.25,      # vqvae: beta of the commitment loss (van den Oord et al. 2017)
      "importance_samples": 50,  # iwae: k of the training bound (Burda et al. 2016 report k=50)
      "beta": 1.0,             # beta_vae: weight of the KL; beta_tcvae: of the total correlation
      "pseudo_inputs": 500,    # vampprior: K learnt pseudo-inputs (Tomczak & Welling 2018 use 500)
  })
  c.train = ml_collections.ConfigDict({
      "batch_size": 256, "steps": 3000, "learning_rate": 1e-3, "schedule": "constant",
      "final_lr_fraction": 0.0, "weight_decay": 0.0, "grad_clip": 0.0,
      "loss": "mse",           # mse | bce (the VAE always uses its Bernoulli ELBO)
      "log_every": 50, "eval_every": 500, "checkpoint_every": 1000, "max_to_keep": 3,
      "loop": "auto",          # auto | device | host: how steps are dispatched (train/loop.py)
  })
  c.eval = ml_collections.ConfigDict({
      "examples": 2000,        # test images scored at each periodic eval
      "iw_samples": 5000,      # importance samples for the VAE's test NLL
      "iw_chunk": 250, "iw_batch": 100,
      "binarize_seed": 0,      # the fixed binarization of the VAE's test set
      "num_samples": 10000,    # VAE samples written to samples.npy
      "pca_examples": 60000,   # train images the PCA baseline is fitted on (the first ones)
  })
  return c


def smoke(c):
  """Seconds on CPU, two checkpoints; the tests run it."""
  c.model.hidden = (64, 32)
  c.model.features = (8, 16)
  c.model.latent_dim = 8
  c.model.importance_samples = 5
  c.model.pseudo_inputs = 16
  c.train.update(batch_size=64, steps=40, log_every=10, eval_every=20, checkpoint_every=20)
  c.eval.update(examples=256, iw_samples=5, iw_chunk=5, iw_batch=500, num_samples=64, pca_examples=5000)
  c.data.test_examples = 2000


def demo(c):
  """The small budget of `make demo` (docs/results.md has its figures)."""
  c.train.update(steps=1500, log_every=50, eval_every=500, checkpoint_every=500)
  c.eval.update(iw_samples=500, iw_chunk=250, iw_batch=500, num_samples=1000)


def hinton(c):
  """784-1000-500-250-30 (Hinton & Salakhutdinov, Science 2006: test SSE 3.00 per image).

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:hinton \\
      --workdir=runs/hinton
  Reached test SSE 2.996 per image (16.8 min on 2 CPU cores).
  """
  c.model.update(hidden=(1000, 500, 250), latent_dim=30)
  # Without decoupled weight decay this net overfits: test SSE 3.30 at 30k steps, 3.79 at 100k.
  c.train.update(steps=30000, learning_rate=1e-3, schedule="cosine", loss="bce", weight_decay=0.1,
                 eval_every=2500, checkpoint_every=2500)


def dec(c):
  """784-500-500-2000-10, the autoencoder DEC (Xie et al. 2016) clusters with; DEC-keras trains it
  end to end with Adam, batch 256, MSE. Then representations.py:dec runs DEC and IDEC on it.

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:dec \\
      --workdir=runs/dec_ae_mnist
  Reached test MSE 0.0108 (PCA-10: 0.0341) at 20,000 steps, flat since 10,000; about 16 steps/s
  on 2 CPU cores (Zen 3).
  """
  c.model.update(hidden=(500, 500, 2000), latent_dim=10)
  c.train.update(steps=20000, learning_rate=1e-3, loss="mse", eval_every=5000, checkpoint_every=2500)


def vae_iwae(c):
  """VAE, 2x200 tanh, 50 latents, dynamically binarized MNIST (Burda et al.: NLL 86.76).

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:vae_iwae \\
      --workdir=runs/vae_iwae
  Reached test NLL 89.53 nats (IW, 5000 samples), ELBO -93.29, in 17 min on 2 CPU cores
  (6.4 min training). With --config.train.steps=500000: NLL 87.19 (95 s training on an H100).
  """
  c.model.update(name="vae", hidden=(200, 200), latent_dim=50, activation="tanh")
  c.train.update(batch_size=100, steps=100000, learning_rate=1e-3, schedule="cosine",
                 eval_every=5000, checkpoint_every=5000)


def iwae(c):
  """IWAE, k = 50, on vae_iwae's model and budget (Burda et al. 2016, 1 layer: NLL 84.78).

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:iwae \
      --workdir=runs/iwae
  Not yet run at this budget.
  """
  vae_iwae(c)
  c.model.name = "iwae"


def vampprior(c):
  """VampPrior, 500 pseudo-inputs, on vae_iwae's model and budget (Tomczak & Welling 2018 report
  NLL 85.57 with 2x300 gated layers, 40 latents and a KL warm-up; here vae_iwae's net, no warm-up).

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:vampprior \
      --workdir=runs/vampprior
  """
  vae_iwae(c)
  c.model.name = "vampprior"


def m1(c):
  """M1 of Kingma et al. 2014 (their code: 784-500-500-50, softplus, Bernoulli decoder), the
  features of the label sweep's M1+M2 cells (`finetune.init_from` names this workdir).

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:m1 --workdir=runs/m1
  """
  c.model.update(name="vae", hidden=(500, 500), latent_dim=50, activation="softplus")
  c.train.update(batch_size=100, steps=60000, learning_rate=1e-3, schedule="cosine",
                 eval_every=10000, checkpoint_every=5000)
  c.eval.update(iw_samples=500)


def shapes_vae(c):
  """The VAE on the shapes dataset, the budget its beta variants share.

  python experiments/autoencoder.py --config=experiments/configs/autoencoder.py:shapes_vae \
      --workdir=runs/shapes_vae
  (and :shapes_beta_vae, :shapes_beta_tcvae); figures in docs/results.md. Reached MIG 0.122 +- 0.018
  over seeds 0-2 (beta-VAE 0.315 +- 0.203, beta-TC-VAE 0.310 +- 0.233; about 7 min a run on 2 cores).
  """
  c.data.name = "shapes"
  # Chen et al. 2018 use 10 latents and MLPs of 1200 units on dSprites; narrower here for CPU.
  c.model.update(name="vae", hidden=(512, 256), latent_dim=10)
  c.train.update(batch_size=256, steps=15000, learning_rate=1e-3, eval_every=2500, checkpoint_every=2500)
  c.eval.update(iw_samples=500, num_samples=1000)


def shapes_beta_vae(c):
  """beta-VAE, beta = 4 (Higgins et al. 2017 use 4 on dSprites)."""
  shapes_vae(c)
  c.model.update(name="beta_vae", beta=4.0)


def shapes_beta_tcvae(c):
  """beta-TC-VAE, beta = 6 (Chen et al. 2018 report their dSprites MIG around beta 6)."""
  shapes_vae(c)
  c.model.update(name="beta_tcvae", beta=6.0)


VARIANTS = {"default": lambda c: None, "smoke": smoke, "demo": demo, "hinton": hinton, "dec": dec,
            "vae_iwae": vae_iwae, "iwae": iwae, "m1": m1, "vampprior": vampprior, "shapes_vae": shapes_vae,
            "shapes_beta_vae": shapes_beta_vae, "shapes_beta_tcvae": shapes_beta_tcvae}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
