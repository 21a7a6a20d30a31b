"""SNGAN (Miyato et al. 2018): the hinge loss against a spectrally normalised discriminator.

Hinge loss (Lim & Ye 2017; Miyato et al. 2018): the discriminator minimises
E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], the generator -E[D(G(z))]. Spectral norm,
DiffAugment and R1 are fields every GAN objective takes (model.spectral_norm, train.diff_augment,
train.r1_weight; objectives/gan.py); the `sngan` config variant turns the first two on.
Registered as the gan family's `sngan` on the DCGAN networks.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup.data.specs import InputSpec
from jaxunsup.objectives import gan
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import GANState


def hinge_disc_loss(real_B: jnp.ndarray, fake_B: jnp.ndarray) -> jnp.ndarray:
  return jnp.mean(jax.nn.relu(1.0 - real_B)) + jnp.mean(jax.nn.relu(1.0 + fake_B))


def hinge_gen_loss(fake_B: jnp.ndarray) -> jnp.ndarray:
  return -jnp.mean(fake_B)


def hinge_step(state: GANState, batch: dict, rng: jax.Array, *, latent_dim: int, num_classes: int = 0,
               ema_decay: float = 0.0, augment: tuple = (), r1_weight: float = 0.0):
  """One discriminator and one generator update on the hinge loss."""

  def disc_loss(disc, real, y_real, fake, y_fake, key):
    del key
    real_scores, fake_scores = disc(real, y_real), disc(fake, y_fake)
    aux = {"d_real": jnp.mean(real_scores), "d_fake": jnp.mean(fake_scores)}
    return gan.with_r1(hinge_disc_loss(real_scores, fake_scores), aux, disc, real, y_real, r1_weight)

  reals, labels = gan.split(batch, 1)
  return gan.adversarial_step(state, reals, labels, rng, disc_loss=disc_loss, gen_loss=hinge_gen_loss,
                              latent_dim=latent_dim, num_classes=num_classes, ema_decay=ema_decay,
                              augment=augment)


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  step = functools.partial(hinge_step, r1_weight=config.train.r1_weight)
  return gan.build_parts(config, spec, "dcgan", False, step, config.train.batch_size)


register(Objective("gan", "sngan", _build, gan.check_shared))
