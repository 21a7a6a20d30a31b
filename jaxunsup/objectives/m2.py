"""M2, the semi-supervised VAE of Kingma, Rezende, Mohamed & Welling 2014, and its M1+M2 stack.

Generative model p(y) p(z) p(x|y,z) with y a class (uniform prior) and z ~ N(0, I); inference
networks q(z|x,y) and the classifier q(y|x). A labelled x has the bound

  L(x, y) = E_q(z|x,y)[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z));

an unlabelled x sums it over every class under the classifier:

  U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)).

The objective per example of the N unlabelled and n labelled (the paper's eq. 9, divided by N):

  J = mean_u U + (n / N) mean_l L + alpha * mean_l log q(y|x),

which is the paper's weighting of the classification term, alpha * (N + n) / n on a sum, for n << N.
On M1's features (its posterior mean and log-variance, z1 ~ q(z1|x) drawn afresh at every step) it is
M1+M2; on pixels (Bernoulli p(x|y,z), dynamically binarised) it is M2 alone; on a pretraining
encoder's features, the same model on deterministic features. The label sweep's `m2` evaluation
(jaxunsup/semi.py) trains one per cell.

Three networks, three optax states; the loop (train/loop.py) feeds each step B unlabelled rows and B
labelled rows (the labelled set tiled to N rows, so both ride one permutation and resume exactly).
"""

import functools
import json
import math

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxunsup.errors import UsageError
from jaxunsup.models.mlp import MLPEncoder
from jaxunsup.objectives.vae import bernoulli_log_likelihood, gaussian_kl, normal_log_density
from jaxunsup.train import compiled
from jaxunsup.train.state import TrainState, global_norm

LIKELIHOODS = ("gaussian", "bernoulli")


@flax.struct.dataclass
class M2State:
  """The classifier q(y|x), the encoder q(z|x,y) and the decoder p(x|y,z), each with its optimizer."""
  classifier: TrainState
  encoder: TrainState
  decoder: TrainState


def check(block: ml_collections.ConfigDict) -> None:
  """One line for settings M2 cannot train."""
  for name in ("hidden", "latent_dim", "batch_size", "steps"):
    value = block[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise UsageError(f"m2.{name} must be a positive integer, got {value!r}")
  if not block.alpha > 0:
    raise UsageError(f"m2.alpha must be positive, got {block.alpha!r}")
  if not block.learning_rate > 0:
    raise UsageError(f"m2.learning_rate must be positive, got {block.learning_rate!r}")
  if not block.active_std >= 0:
    raise UsageError(f"m2.active_std must be >= 0, got {block.active_std!r}")


def draw_input(mean_BxD, logvar_BxD, rng, likelihood: str):
  """One draw of the model's input: M1's z1 ~ N(mean, exp(logvar)), a binarised pixel vector, or
  the features themselves when they are deterministic (logvar None)."""
  if likelihood == "bernoulli":
    return jax.random.bernoulli(rng, mean_BxD).astype(jnp.float32)
  if logvar_BxD is None:
    return mean_BxD
  return mean_BxD + jnp.exp(0.5 * logvar_BxD) * jax.random.normal(rng, mean_BxD.shape)


def labelled_bound(nets, params, x_BxD, y_BxK, eps_BxZ, likelihood: str):
  """L(x, y) per example, with z = mean + sigma * eps (one draw)."""
  stats = nets["encoder"].apply({"params": params["encoder"]}, jnp.concatenate([x_BxD, y_BxK], -1))
  mean, logvar = jnp.split(stats, 2, axis=-1)
  z = mean + jnp.exp(0.5 * logvar) * eps_BxZ
  out = nets["decoder"].apply({"params": params["decoder"]}, jnp.concatenate([z, y_BxK], -1))
  if likelihood == "bernoulli":
    log_px = bernoulli_log_likelihood(out, x_BxD)
  else:
    x_mean, x_logvar = jnp.split(out, 2, axis=-1)
    log_px = normal_log_density(x_BxD, x_mean, x_logvar).sum(-1)
  log_py = -math.log(y_BxK.shape[-1])
  return log_px + log_py - gaussian_kl(mean, logvar)


def unlabelled_bound(nets, params, x_BxD, eps_KxBxZ, likelihood: str):
  """U(x) per example: the labelled bound of every class, weighted by q(y|x), plus its entropy.
  Returns (U, log q(y|x))."""
  log_q_BxK = jax.nn.log_softmax(nets["classifier"].apply({"params": params["classifier"]}, x_BxD))
  num_classes, batch = log_q_BxK.shape[-1], x_BxD.shape[0]
  # every (class, example) pair in one batch of K * B rows
  y = jnp.repeat(jnp.eye(num_classes), batch, axis=0)
  x = jnp.tile(x_BxD, (num_classes, 1))
  bound_BxK = labelled_bound(nets, params, x, y, eps_KxBxZ.reshape((-1, eps_KxBxZ.shape[-1])),
                             likelihood).reshape((num_classes, batch)).T
  q_BxK = jnp.exp(log_q_BxK)
  return jnp.sum(q_BxK * (bound_BxK - log_q_BxK), axis=-1), log_q_BxK


def loss_fn(params, nets, batch: dict, rng: jax.Array, *, alpha: float, labelled_weight: float,
            likelihood: str, latent_dim: int, num_classes: int):
  """-J (module docstring) on one batch of unlabelled rows `x` and labelled rows `lx`, `label`."""
  k_u, k_l, e_u, e_l = jax.random.split(rng, 4)
  x_u = draw_input(batch["x"], batch.get("x_logvar"), k_u, likelihood)
  x_l = draw_input(batch["lx"], batch.get("lx_logvar"), k_l, likelihood)
  batch_size = x_u.shape[0]
  u, _ = unlabelled_bound(nets, params, x_u, jax.random.normal(e_u, (num_classes, batch_size, latent_dim)),
                          likelihood)
  y_l = jax.nn.one_hot(batch["label"], num_classes)
  l_bound = labelled_bound(nets, params, x_l, y_l, jax.random.normal(e_l, (x_l.shape[0], latent_dim)), likelihood)
  logits = nets["classifier"].apply({"params": params["classifier"]}, x_l)
  ce = jnp.mean(optax.softmax_cross_entropy(logits, y_l))
  loss = -jnp.mean(u) - labelled_weight * jnp.mean(l_bound) + alpha * ce
  accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
  return loss, {"unlabelled_bound": jnp.mean(u), "labelled_bound": jnp.mean(l_bound), "ce": ce,
                "accuracy": accuracy}


def train_step(state: M2State, batch: dict, rng: jax.Array, *, nets, **kw):
  """One Adam step of the three networks on -J."""
  params = {"classifier": state.classifier.params, "encoder": state.encoder.params,
            "decoder": state.decoder.params}
  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, nets, batch, rng, **kw)
  new_state = M2State(**{k: getattr(state, k).apply_gradients(grads=grads[k]) for k in params})
  return new_state, {"loss": loss, **metrics, "grad_norm": global_norm([grads])}


def _optimizer(block, num_unlabelled: int) -> optax.GradientTransformation:
  # The paper puts N(0, 1) priors on the weights (not the biases); over N examples per epoch that is
  # an L2 term of 1 / N per example.
  decay = optax.add_decayed_weights(1.0 / num_unlabelled, mask=lambda p: jax.tree.map(lambda a: a.ndim > 1, p))
  return optax.chain(decay, optax.adam(block.learning_rate, b1=0.9, b2=0.999))


@flax.struct.dataclass
class Built:
  """What one M2 config compiles: networks, the step, the init and a jitted classifier."""
  nets: dict = flax.struct.field(pytree_node=False)
  train_step: object = flax.struct.field(pytree_node=False)
  init: object = flax.struct.field(pytree_node=False)
  predict: object = flax.struct.field(pytree_node=False)


def build(block: ml_collections.ConfigDict, dim: int, likelihood: str, num_classes: int,
          num_unlabelled: int, num_labelled: int) -> Built:
  """The networks and pure step of M2 on `dim`-d inputs, made once per process for equal
  arguments (train/compiled.py): the label draws of a sweep share one compiled step."""
  if likelihood not in LIKELIHOODS:
    raise UsageError(f"unknown m2 likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
  fields = {k: block[k] for k in ("hidden", "latent_dim", "activation", "alpha", "learning_rate")}
  key = json.dumps([fields, dim, likelihood, num_classes, num_unlabelled, num_labelled], sort_keys=True)

  def make():
    hidden = (block.hidden,)
    out_dim = 2 * dim if likelihood == "gaussian" else dim
    nets = {"classifier": MLPEncoder(hidden, num_classes, block.activation),
            "encoder": MLPEncoder(hidden, 2 * block.latent_dim, block.activation),
            "decoder": MLPEncoder(hidden, out_dim, block.activation)}
    tx = _optimizer(block, num_unlabelled)
    inputs = {"classifier": dim, "encoder": dim + num_classes, "decoder": block.latent_dim + num_classes}

    def init(rng):
      keys = dict(zip(nets, jax.random.split(rng, 3)))
      return M2State(**{k: TrainState.create(
          apply_fn=nets[k].apply, tx=tx,
          params=nets[k].init(keys[k], jnp.zeros((1, inputs[k]), jnp.float32))["params"]) for k in nets})

    step = functools.partial(train_step, nets=nets, alpha=block.alpha,
                             labelled_weight=num_labelled / num_unlabelled, likelihood=likelihood,
                             latent_dim=block.latent_dim, num_classes=num_classes)

    @jax.jit
    def predict(state, x_BxD):
      return jnp.argmax(nets["classifier"].apply({"params": state.classifier.params}, x_BxD), -1)

    return Built(nets=nets, train_step=step, init=init, predict=predict)

  return compiled.once(("m2", key), make)
