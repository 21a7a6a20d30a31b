"""GAN objectives: the non-saturating GAN (Goodfellow et al. 2014) and WGAN-GP (Gulrajani et al. 2017).

Both train steps share one pattern. The discriminator (critic) is updated first; the generator is
then updated against the updated discriminator on the same fake batch, whose forward pass through
the generator is kept as a VJP, so the generator runs forward once per step. WGAN-GP first makes
n_critic - 1 critic-only updates, each on its own real batch and fresh fakes.

Images enter as [0, 1] floats and are mapped to [-1, 1], the generator's tanh range.
Registered as the gan family's `mlp`, `dcgan`, `wgan_gp` and `cgan` (model.name of the GAN configs).

Every objective takes the stabilisers: `model.spectral_norm` (the discriminator's power-iteration
vectors then live in its state's batch_stats and are checkpointed with it), `train.diff_augment`
(a DiffAugment policy applied to every image the discriminator sees in training, real or fake)
and, but for WGAN-GP, `train.r1_weight`. objectives/sngan.py adds the hinge loss on top.
"""

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxunsup import data as data_lib
from jaxunsup import diffaugment, models
from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import GANState, StatsState, TrainState, global_norm, init_variables


# Losses. Arguments are the discriminator's raw outputs, one per image.

def ns_disc_loss(real_logits_B: jnp.ndarray, fake_logits_B: jnp.ndarray) -> jnp.ndarray:
  """-log D(x) - log(1 - D(G(z))), with D = sigmoid(logit)."""
  return jnp.mean(jax.nn.softplus(-real_logits_B)) + jnp.mean(jax.nn.softplus(fake_logits_B))


def ns_gen_loss(fake_logits_B: jnp.ndarray) -> jnp.ndarray:
  """-log D(G(z)): the non-saturating generator loss."""
  return jnp.mean(jax.nn.softplus(-fake_logits_B))


def wgan_critic_loss(real_B: jnp.ndarray, fake_B: jnp.ndarray) -> jnp.ndarray:
  """E[C(G(z))] - E[C(x)], the negated Wasserstein estimate the critic minimises."""
  return jnp.mean(fake_B) - jnp.mean(real_B)


def wgan_gen_loss(fake_B: jnp.ndarray) -> jnp.ndarray:
  return -jnp.mean(fake_B)


def gradient_penalty(critic: Callable, real_BxHxWxC: jnp.ndarray, fake_BxHxWxC: jnp.ndarray,
                     eps_B: jnp.ndarray) -> jnp.ndarray:
  """E[(||grad C(x_hat)|| - 1)^2] at x_hat = eps x + (1 - eps) G(z), one eps per sample.

  `critic` maps a batch to one score per image with no mixing across the batch (no batch norm),
  so the gradient of the summed scores holds each image's own input gradient.
  """
  eps = eps_B.reshape((-1,) + (1,) * (real_BxHxWxC.ndim - 1))
  x_hat = eps * real_BxHxWxC + (1 - eps) * fake_BxHxWxC
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  # the small constant keeps the gradient of the norm finite where grads vanish
  norms_B = jnp.sqrt(jnp.sum(jnp.square(grads.reshape((grads.shape[0], -1))), axis=-1) + 1e-12)
  return jnp.mean(jnp.square(norms_B - 1.0))


def r1_penalty(critic: Callable, real_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
  """E[||grad D(x)||^2] / 2 on real images (Mescheder et al. 2018), the form StyleGAN weights by gamma."""
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(real_BxHxWxC)
  return 0.5 * jnp.mean(jnp.sum(jnp.square(grads.reshape((grads.shape[0], -1))), axis=-1))


# Generator plumbing.

def generate(state: GANState, variables: dict, z_BxD: jnp.ndarray, labels_B: Optional[jnp.ndarray],
             train: bool) -> tuple:
  """G(z, y) in [-1, 1] and the updated batch statistics (unchanged when not training)."""
  if not train:
    return state.gen.apply_fn(variables, z_BxD, labels_B, train=False), variables["batch_stats"]
  fake, updates = state.gen.apply_fn(variables, z_BxD, labels_B, train=True, mutable=["batch_stats"])
  return fake, updates.get("batch_stats", variables["batch_stats"])


def with_continuous_codes(category_B: jnp.ndarray, key: jax.Array, continuous: int) -> jnp.ndarray:
  """InfoGAN's labels (B, 1 + continuous) floats: the category, then codes drawn from U(-1, 1)."""
  codes = jax.random.uniform(key, (category_B.shape[0], continuous), minval=-1.0, maxval=1.0)
  return jnp.concatenate([jnp.asarray(category_B)[:, None].astype(jnp.float32), codes], -1)


def _draw(rng: jax.Array, batch: int, latent_dim: int, num_classes: int, continuous: int = 0) -> tuple:
  """Latent codes and (for conditional models) uniformly drawn class labels; with `continuous`
  codes, InfoGAN's labels (`with_continuous_codes`)."""
  z_key, y_key = jax.random.split(rng)
  z = jax.random.normal(z_key, (batch, latent_dim))
  labels = jax.random.randint(y_key, (batch,), 0, num_classes) if num_classes else None
  if continuous:
    labels = with_continuous_codes(labels, jax.random.fold_in(y_key, 1), continuous)
  return z, labels


def _disc_vars(disc_state, params) -> dict:
  """The discriminator's variables: its params, and its spectral-norm vectors if it has them."""
  stats = getattr(disc_state, "batch_stats", None)
  return {"params": params} if stats is None else {"params": params, "batch_stats": stats}


def _disc_fn(disc_state, params, num_classes: int):
  return lambda x, y: disc_state.apply_fn(_disc_vars(disc_state, params), x, y if num_classes else None)


def power_iteration(disc_state, x, y, num_classes: int):
  """Stores one more power iteration of each spectrally normalised weight (none: unchanged).

  One image suffices: the iteration reads the weights, not the batch.
  """
  if getattr(disc_state, "batch_stats", None) is None:
    return disc_state
  _, updates = disc_state.apply_fn(_disc_vars(disc_state, disc_state.params), x[:1],
                                   y[:1] if num_classes else None, update_stats=True, mutable=["batch_stats"])
  return disc_state.replace(batch_stats=jax.lax.stop_gradient(updates["batch_stats"]))


def _ema(old: dict, params, batch_stats, decay: float) -> dict:
  return {"params": jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, old["params"], params),
          "batch_stats": batch_stats}


def adversarial_step(state: GANState, reals, labels, rng, *, disc_loss: Callable, gen_loss: Callable,
                     latent_dim: int, num_classes: int, ema_decay: float, augment: tuple = (), continuous: int = 0):
  """Critic-only updates for all but the last real batch, then one critic and one generator update.

  reals: (n, B, H, W, C) in [-1, 1]; labels: (n, B). disc_loss(D, real, y_real, fake, y_fake, rng)
  and gen_loss(scores) give the two objectives. `augment` (diffaugment transforms) is applied to
  every image the discriminator sees, with its own key for the reals, the fakes and the
  generator's fakes. `continuous`: InfoGAN's continuous codes drawn beside each fake's category.
  """
  n, batch = reals.shape[:2]
  gen_vars = {"params": state.gen.params, "batch_stats": state.gen.batch_stats}

  def disc_update(disc, real, y_real, fake, y_fake, key):
    disc = power_iteration(disc, real, y_real, num_classes)
    if augment:
      real = diffaugment.augment(real, jax.random.fold_in(key, 1), augment)
      fake = diffaugment.augment(fake, jax.random.fold_in(key, 2), augment)

    def loss_fn(params):
      return disc_loss(_disc_fn(disc, params, num_classes), real, y_real, fake, y_fake, key)
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(disc.params)
    return disc.apply_gradients(grads=grads), loss, aux, grads

  # A Python loop, unrolled when traced: XLA's CPU backend runs convolutions in a scan's while
  # loop several times slower (see train/loop.py), and n_critic is small.
  disc = state.disc
  for i in range(n - 1):
    z, y_fake = _draw(jax.random.fold_in(rng, 2 * i), batch, latent_dim, num_classes, continuous)
    fake, _ = generate(state, gen_vars, z, y_fake, train=True)
    disc = disc_update(disc, reals[i], labels[i], fake, y_fake, jax.random.fold_in(rng, 2 * i + 1))[0]

  z, y_fake = _draw(jax.random.fold_in(rng, 2 * (n - 1)), batch, latent_dim, num_classes, continuous)
  fake, gen_vjp, new_stats = jax.vjp(
      lambda p: generate(state, {"params": p, "batch_stats": gen_vars["batch_stats"]}, z, y_fake, True),
      state.gen.params, has_aux=True)
  disc, d_loss, d_aux, d_grads = disc_update(disc, reals[-1], labels[-1], jax.lax.stop_gradient(fake),
                                             y_fake, jax.random.fold_in(rng, 2 * n - 1))
  updated_disc = _disc_fn(disc, disc.params, num_classes)
  if augment:
    seen = lambda x: diffaugment.augment(x, jax.random.fold_in(rng, 2 * n), augment)
  else:
    seen = lambda x: x
  g_loss, g_fake = jax.value_and_grad(lambda x: gen_loss(updated_disc(seen(x), y_fake)))(fake)
  (g_grads,) = gen_vjp(g_fake)
  gen = state.gen.apply_gradients(grads=g_grads).replace(batch_stats=new_stats)
  new_state = GANState(gen=gen, disc=disc, ema=_ema(state.ema, gen.params, new_stats, ema_decay))
  metrics = {"d_loss": d_loss, "g_loss": g_loss, **d_aux,
             "d_grad_norm": global_norm([d_grads]), "g_grad_norm": global_norm([g_grads])}
  return new_state, metrics


def split(batch: dict, n: int) -> tuple:
  """The batch's images in [-1, 1] and labels, as n slices of equal size."""
  x = batch["image"] * 2.0 - 1.0
  return x.reshape((n, -1, *x.shape[1:])), batch["label"].reshape((n, -1))


def with_r1(loss: jnp.ndarray, aux: dict, disc: Callable, real, y_real, r1_weight: float) -> tuple:
  """The discriminator's loss plus r1_weight times the R1 penalty (left out when the weight is 0).

  With DiffAugment on, `real` is the augmented batch: the penalty smooths the discriminator where
  it is trained, not through the augmentation as StyleGAN2-ADA's does."""
  if not r1_weight:
    return loss, aux
  penalty = r1_penalty(lambda x: disc(x, y_real), real)
  return loss + r1_weight * penalty, {**aux, "r1": penalty}


def non_saturating_step(state: GANState, batch: dict, rng: jax.Array, *, latent_dim: int,
                        num_classes: int = 0, ema_decay: float = 0.0, augment: tuple = (),
                        r1_weight: float = 0.0):
  """One discriminator and one generator update of the non-saturating GAN."""

  def disc_loss(disc, real, y_real, fake, y_fake, key):
    del key
    real_logits, fake_logits = disc(real, y_real), disc(fake, y_fake)
    aux = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits)), "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return with_r1(ns_disc_loss(real_logits, fake_logits), aux, disc, real, y_real, r1_weight)

  reals, labels = split(batch, 1)
  return adversarial_step(state, reals, labels, rng, disc_loss=disc_loss, gen_loss=ns_gen_loss,
               latent_dim=latent_dim, num_classes=num_classes, ema_decay=ema_decay, augment=augment)


def wgan_gp_step(state: GANState, batch: dict, rng: jax.Array, *, latent_dim: int, n_critic: int,
                 gp_weight: float, num_classes: int = 0, ema_decay: float = 0.0, augment: tuple = ()):
  """n_critic critic updates (each on its own slice of the batch), then one generator update."""

  def disc_loss(disc, real, y_real, fake, y_fake, key):
    eps = jax.random.uniform(key, (real.shape[0],))
    wasserstein = -wgan_critic_loss(disc(real, y_real), disc(fake, y_fake))
    # conditional critics: the interpolate keeps the real image's label
    penalty = gradient_penalty(lambda x: disc(x, y_real), real, fake, eps)
    return -wasserstein + gp_weight * penalty, {"wasserstein": wasserstein, "gp": penalty}

  reals, labels = split(batch, n_critic)
  return adversarial_step(state, reals, labels, rng, disc_loss=disc_loss, gen_loss=wgan_gen_loss,
               latent_dim=latent_dim, num_classes=num_classes, ema_decay=ema_decay, augment=augment)


# model.name -> (architecture, objective, class-conditional)
MODELS = {
    "mlp": ("mlp", "non_saturating", False),
    "dcgan": ("dcgan", "non_saturating", False),
    "wgan_gp": ("dcgan", "wgan_gp", False),
    "cgan": ("dcgan", "non_saturating", True),
}


def check_shared(config: ml_collections.ConfigDict) -> None:
  """UsageError on an EMA decay or DiffAugment policy no GAN objective can use."""
  if not 0.0 <= config.model.ema_decay < 1.0:
    raise UsageError(f"model.ema_decay must be in [0, 1), got {config.model.ema_decay}")
  diffaugment.parse(config.train.diff_augment)


def check(config: ml_collections.ConfigDict) -> None:
  """UsageError on a critic count, EMA decay or augmentation the steps cannot use, or a
  class-conditional model on a dataset without labels."""
  _, objective, conditional = MODELS[config.model.name]
  if conditional:
    data_lib.require_labels(config.data.name, f"the class-conditional {config.model.name}")
  if objective == "wgan_gp" and (not isinstance(config.train.n_critic, int) or config.train.n_critic < 1):
    raise UsageError(f"train.n_critic must be an integer >= 1, got {config.train.n_critic!r}")
  if objective == "wgan_gp" and config.train.r1_weight:
    raise UsageError("train.r1_weight does not apply to wgan_gp, whose gradient penalty is train.gp_weight")
  check_shared(config)


def build_parts(config: ml_collections.ConfigDict, spec: InputSpec, arch: str, conditional: bool,
                step: Callable, examples_per_step: int, codes: int = 0, continuous: int = 0) -> Parts:
  """A GAN's parts: `arch`'s networks and states, and `step(state, batch, rng, **shared)`, where
  shared holds latent_dim, num_classes, ema_decay and the DiffAugment transforms. `codes` > 0
  gives InfoGAN's networks instead of a class-conditional pair: a generator of z and one of
  `codes` categories (and `continuous` codes), and a discriminator that predicts them (models/gan.py)."""
  num_classes = codes or (spec.num_classes if conditional else 0)
  gen, disc = models.build_gan(arch, config.model, spec.shape, num_classes)
  if codes:
    disc = disc.clone(conditioning="code")
  tc = config.train
  gen_tx = optax.adam(tc.gen_lr, tc.beta1, tc.beta2)
  disc_tx = optax.adam(tc.disc_lr, tc.beta1, tc.beta2)

  def init(rng):
    """Generator and discriminator, each with its own Adam state, and the generator's EMA."""
    gen_key, disc_key = jax.random.split(rng)
    labels = jnp.zeros((2,), jnp.int32) if num_classes else None
    if continuous:
      labels = jnp.zeros((2, 1 + continuous), jnp.float32)
    gen_vars = init_variables(gen, gen_key, jnp.zeros((2, config.model.latent_dim)), labels, train=False)
    # op by op under spectral norm: compiled, its kernels come out one float step apart, and the
    # sngan runs measured so far would not repeat
    disc_init = disc.init if config.model.spectral_norm else functools.partial(init_variables, disc)
    disc_vars = disc_init(disc_key, jnp.zeros((2, *spec.shape)), labels)
    batch_stats = gen_vars.get("batch_stats", {})
    if "batch_stats" in disc_vars:  # spectral norm's vectors
      disc_state = StatsState.create(apply_fn=disc.apply, params=disc_vars["params"],
                                     batch_stats=disc_vars["batch_stats"], tx=disc_tx)
    else:  # the state it always had, so older checkpoints still restore
      disc_state = TrainState.create(apply_fn=disc.apply, params=disc_vars["params"], tx=disc_tx)
    return GANState(
        gen=StatsState.create(apply_fn=gen.apply, params=gen_vars["params"], batch_stats=batch_stats, tx=gen_tx),
        disc=disc_state,
        # copies: the EMA must not share buffers with the params, which the loop donates
        ema=jax.tree.map(jnp.copy, {"params": gen_vars["params"], "batch_stats": batch_stats}))

  step = functools.partial(step, latent_dim=config.model.latent_dim, num_classes=num_classes,
                           ema_decay=config.model.ema_decay, augment=diffaugment.parse(tc.diff_augment))
  return Parts(init=init, train_step=step, examples_per_step=examples_per_step,
               modules={"generator": gen, "discriminator": disc})


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  arch, objective, conditional = MODELS[config.model.name]
  tc = config.train
  if objective == "wgan_gp":
    step = functools.partial(wgan_gp_step, n_critic=tc.n_critic, gp_weight=tc.gp_weight)
    return build_parts(config, spec, arch, conditional, step, tc.batch_size * tc.n_critic)
  step = functools.partial(non_saturating_step, r1_weight=tc.r1_weight)
  return build_parts(config, spec, arch, conditional, step, tc.batch_size)


for _name in MODELS:
  register(Objective("gan", _name, _build, check))
