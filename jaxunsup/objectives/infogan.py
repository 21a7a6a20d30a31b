"""InfoGAN (Chen et al. 2016): an unconditional GAN that finds categories of its own.

The generator takes z and a categorical code c drawn uniformly from `model.codes` values; the
discriminator, besides its real/fake logit, predicts c from the image (Q, a head on its last
features, models/gan.py). Both networks also maximise the variational lower bound on the mutual
information I(c; G(z, c)), E[log Q(c | G(z, c))] (eq. 5 of the paper, up to the constant H(c)),
weighted by `train.info_weight` (1 for discrete codes in the paper). `model.continuous_codes` adds
the paper's continuous codes, each drawn from U(-1, 1) and read back by Q as the mean of a
unit-variance Gaussian (on MNIST it used two, which came to stand for rotation and stroke
width without being told; their bound is weighted like the category's). No label is read: the real
images enter without codes. On MNIST the paper's 10-valued code came to separate the digits, so
a sample's code stands in for the class the generator would otherwise blend. Registered as the
gan family's `infogan` on the DCGAN networks, with the non-saturating loss.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives import gan
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import GANState


def info_disc_loss(real_Bx2: jnp.ndarray, fake_Bx2: jnp.ndarray, weight: float) -> jnp.ndarray:
  """The discriminator's non-saturating loss minus `weight` times the bound E[log Q(c | G(z, c))];
  column 0 of each output is the logit, column 1 of the fakes' is log Q of their code."""
  return gan.ns_disc_loss(real_Bx2[:, 0], fake_Bx2[:, 0]) - weight * jnp.mean(fake_Bx2[:, 1])


def info_gen_loss(fake_Bx2: jnp.ndarray, weight: float) -> jnp.ndarray:
  """The generator's non-saturating loss minus `weight` times the same bound."""
  return gan.ns_gen_loss(fake_Bx2[:, 0]) - weight * jnp.mean(fake_Bx2[:, 1])


def infogan_step(state: GANState, batch: dict, rng: jax.Array, *, latent_dim: int, num_classes: int,
                 ema_decay: float = 0.0, augment: tuple = (), weight: float = 1.0, continuous: int = 0):
  """One discriminator-and-Q update, then one generator update; the codes are the fakes' labels."""

  def disc_loss(disc, real, y_real, fake, y_fake, key):
    del y_real, key  # unsupervised: the real images' labels are never read
    real_out, fake_out = disc(real, None), disc(fake, y_fake)
    aux = {"d_real": jnp.mean(jax.nn.sigmoid(real_out[:, 0])), "d_fake": jnp.mean(jax.nn.sigmoid(fake_out[:, 0])),
           "log_q": jnp.mean(fake_out[:, 1])}
    return info_disc_loss(real_out, fake_out, weight), aux

  reals, labels = gan.split(batch, 1)
  return gan.adversarial_step(state, reals, labels, rng, disc_loss=disc_loss,
                              gen_loss=functools.partial(info_gen_loss, weight=weight), latent_dim=latent_dim,
                              num_classes=num_classes, ema_decay=ema_decay, augment=augment, continuous=continuous)


def check(config: ml_collections.ConfigDict) -> None:
  """UsageError for a code of fewer than two values, a negative count of continuous codes, a
  weight that is not positive, or an R1 penalty."""
  gan.check_shared(config)
  codes = config.model.codes
  if isinstance(codes, bool) or not isinstance(codes, int) or codes < 2:
    raise UsageError(f"model.codes must be a whole number >= 2 (values of InfoGAN's code), got {codes!r}")
  continuous = config.model.continuous_codes
  if isinstance(continuous, bool) or not isinstance(continuous, int) or continuous < 0:
    raise UsageError(f"model.continuous_codes must be a whole number >= 0, got {continuous!r}")
  if not config.train.info_weight > 0:
    raise UsageError(f"train.info_weight must be positive, got {config.train.info_weight}")
  if config.train.r1_weight:
    raise UsageError("train.r1_weight does not apply to infogan")


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  continuous = config.model.continuous_codes
  step = functools.partial(infogan_step, weight=config.train.info_weight, continuous=continuous)
  return gan.build_parts(config, spec, "dcgan", False, step, config.train.batch_size, codes=config.model.codes,
                         continuous=continuous)


register(Objective("gan", "infogan", _build, check))
