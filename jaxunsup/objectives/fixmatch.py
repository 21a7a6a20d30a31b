"""FixMatch (Sohn et al. 2020): consistency regularisation with confident pseudo-labels.

Each step takes B labelled images and mu * B unlabelled ones. The labelled loss is cross-entropy on
weakly augmented views; for every unlabelled image the classifier's prediction on a weak view,
where its largest probability reaches `threshold`, becomes a hard label that a strong view of the
same image is trained to predict:

  loss = mean_l CE(y, p(weak(x_l))) + lambda_u * mean_u 1[max q_u >= threshold] CE(argmax q_u, p(strong(x_u)))

with q_u = p(weak(x_u)) held fixed (no gradient). The mean over the unlabelled batch counts the
images below the threshold too, as the paper does, so the weight of the term grows with the share
of confident images. SGD with Nesterov momentum and the paper's cosine decay, lr * cos(7 pi k / 16 K).

Registered as the classifier objective `fixmatch`: the label sweep's `fixmatch` evaluation trains
the shared conv encoder and a linear head from scratch or from a pretraining objective's encoder.
The loop feeds mu * B rows a step: the unlabelled images ("image") and the labelled set tiled to
as many rows ("limage", "label"), of which the step keeps the first B (`cell_data`), so one
permutation draws both and a resume replays the same batches. "unlabelled_label" holds the true
labels of the unlabelled rows for one diagnostic only: how often the confident pseudo-labels are
right (no loss reads it).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxunsup import augment as augment_lib
from jaxunsup import models
from jaxunsup.augment import augment
from jaxunsup.data.specs import InputSpec, to_model
from jaxunsup.errors import UsageError
from jaxunsup.models.heads import EncoderClassifier
from jaxunsup.objectives.classification import cross_entropy
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import TrainState, global_norm


def check(config: ml_collections.ConfigDict) -> None:
  """One line for settings FixMatch cannot train."""
  block = config.fixmatch
  for name in ("batch_size", "mu", "steps", "eval_every"):
    value = block[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise UsageError(f"fixmatch.{name} must be a positive integer, got {value!r}")
  if not 0.0 < block.threshold <= 1.0:
    raise UsageError(f"fixmatch.threshold must be in (0, 1], got {block.threshold!r}")
  for name in ("learning_rate", "lambda_u"):
    if not block[name] > 0:
      raise UsageError(f"fixmatch.{name} must be positive, got {block[name]!r}")
  if not 0.0 <= block.momentum < 1.0 or block.weight_decay < 0:
    raise UsageError(f"fixmatch.momentum must be in [0, 1) and fixmatch.weight_decay >= 0, "
                     f"got {block.momentum!r} and {block.weight_decay!r}")
  for name in ("weak", "strong"):
    augment_lib.settings(block[name], config.data.name, f"fixmatch.{name}")


def masked_consistency(weak_logits_BxK: jnp.ndarray, strong_logits_BxK: jnp.ndarray,
                       threshold: float) -> tuple:
  """(unlabelled loss, mask): cross-entropy of the strong views against the weak views' argmax,
  counted only where the weak views' largest probability reaches `threshold`, averaged over the
  whole batch. No gradient reaches the weak logits."""
  probs = jax.nn.softmax(jax.lax.stop_gradient(weak_logits_BxK))
  mask = (jnp.max(probs, axis=-1) >= threshold).astype(jnp.float32)
  ce = optax.softmax_cross_entropy_with_integer_labels(strong_logits_BxK, jnp.argmax(probs, axis=-1))
  return jnp.mean(mask * ce), mask


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, weak: dict, strong: dict,
               threshold: float, lambda_u: float, labelled: int):
  """One step on `labelled` labelled rows and every unlabelled row of `batch` (module docstring)."""
  k_l, k_w, k_s = jax.random.split(rng, 3)
  x_l = augment(to_model(batch["limage"][:labelled]), k_l, **weak)
  y_l = batch["label"][:labelled]
  x_u = batch["image"]
  # The pseudo-labels' forward pass needs no backward one, so it stays outside the gradient.
  weak_logits = state.apply_fn({"params": state.params}, augment(x_u, k_w, **weak))
  x_s = augment(x_u, k_s, **strong)

  def loss_fn(params):
    logits = state.apply_fn({"params": params}, jnp.concatenate([x_l, x_s]))
    labelled_loss, accuracy = cross_entropy(logits[:labelled], y_l)
    unlabelled_loss, mask = masked_consistency(weak_logits, logits[labelled:], threshold)
    return labelled_loss + lambda_u * unlabelled_loss, (labelled_loss, unlabelled_loss, accuracy, mask)

  (loss, (l_loss, u_loss, accuracy, mask)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  right = (jnp.argmax(weak_logits, -1) == batch["unlabelled_label"]).astype(jnp.float32)
  metrics = {"loss": loss, "labelled_loss": l_loss, "unlabelled_loss": u_loss, "accuracy": accuracy,
             "mask_rate": jnp.mean(mask),
             "pseudo_label_accuracy": jnp.sum(mask * right) / jnp.maximum(jnp.sum(mask), 1.0),
             "grad_norm": global_norm([grads])}
  return state.apply_gradients(grads=grads), metrics


def cell_data(labelled_images: np.ndarray, labels: np.ndarray, unlabelled_images: np.ndarray,
              unlabelled_labels: np.ndarray) -> dict:
  """The loop's train data of one cell: the unlabelled rows, and the labelled set tiled beside
  them (module docstring)."""
  tiled = np.resize(np.arange(len(labels)), len(unlabelled_images))
  return {"image": unlabelled_images, "limage": labelled_images[tiled], "label": labels[tiled],
          "unlabelled_label": unlabelled_labels}


def cosine_schedule(learning_rate: float, steps: int):
  """The paper's decay: learning_rate * cos(7 pi k / (16 K)), ending at about 0.2 of the start."""
  return lambda k: learning_rate * jnp.cos(7.0 * jnp.pi * k / (16.0 * steps))


def make_optimizer(block: ml_collections.ConfigDict, steps: int) -> optax.GradientTransformation:
  # Weight decay on the kernels only, as an L2 term's gradient added before the momentum.
  decay = optax.add_decayed_weights(block.weight_decay, mask=lambda p: jax.tree.map(lambda a: a.ndim > 1, p))
  return optax.chain(decay, optax.sgd(cosine_schedule(block.learning_rate, steps),
                                      momentum=block.momentum, nesterov=True))


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  if spec.key != "image":
    raise UsageError("fixmatch augments images; it has no text version")
  block = config.fixmatch
  model = EncoderClassifier(models.build_encoder(config.model, spec), spec.num_classes)
  tx = make_optimizer(block, config.train.steps)
  weak, strong = (augment_lib.settings(block[name], config.data.name, f"fixmatch.{name}")
                  for name in ("weak", "strong"))

  def init(rng):
    params = model.init(rng, jnp.zeros((1, *spec.shape), jnp.float32))["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  return Parts(init=init, examples_per_step=block.mu * block.batch_size,
               train_step=functools.partial(train_step, weak=weak, strong=strong, threshold=block.threshold,
                                            lambda_u=block.lambda_u, labelled=block.batch_size),
               encoder_params=lambda state: state.params["encoder"],
               modules={"classifier": model, "encoder": model.encoder})


register(Objective("classifier", "fixmatch", _build, check=check))
