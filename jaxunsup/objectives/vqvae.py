"""VQ-VAE: an autoencoder whose code is discrete, each part the nearest vector of a learnt codebook.

van den Oord et al. 2017, "Neural Discrete Representation Learning", eq. 3: the loss is the
reconstruction term, plus ||sg[z_e] - e||^2, which moves the chosen codewords to the encoder's
outputs, plus beta ||z_e - sg[e]||^2, which commits the encoder to its codewords (beta =
model.commitment, 0.25 in the paper). The decoder's gradient reaches the encoder straight through
the quantisation (z_q = z_e + sg[e - z_e]). Sums run over pixels and code dimensions, means over
the batch. Registered as the autoencoder family's `vqvae`; sampling would need a prior over codes
(the paper's PixelCNN), which is not part of this objective.
"""

import functools

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import models
from jaxunsup.chunked import map_in_chunks
from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.models.vq import VectorQuantizer
from jaxunsup.objectives import reconstruction
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train import state as state_lib
from jaxunsup.train.state import TrainState, global_norm


@flax.struct.dataclass
class VQState:
  """Encoder, decoder and codebook, each with its own params and optimizer state."""
  encoder: TrainState
  decoder: TrainState
  quantizer: TrainState


def perplexity(codes_BxN: jnp.ndarray, codebook_size: int) -> jnp.ndarray:
  """exp of the entropy of codeword use: the number of codewords in effective use."""
  p = jnp.bincount(codes_BxN.reshape(-1), length=codebook_size) / codes_BxN.size
  return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


def _forward(state: VQState, params: dict, x_BxHxWxC: jnp.ndarray) -> tuple:
  """(logits, z_e, e, codes) with the straight-through code z_q = z_e + sg[e - z_e]."""
  z_e = state.encoder.apply_fn({"params": params["encoder"]}, x_BxHxWxC)
  e, codes = state.quantizer.apply_fn({"params": params["quantizer"]}, z_e)
  logits = state.decoder.apply_fn({"params": params["decoder"]}, z_e + jax.lax.stop_gradient(e - z_e))
  return logits, z_e, e, codes


def _sum_per_example(x_BxAny: jnp.ndarray) -> jnp.ndarray:
  return jnp.mean(jnp.sum(x_BxAny.reshape((x_BxAny.shape[0], -1)), axis=-1))


def train_step(state: VQState, batch: dict, rng: jax.Array, *, loss: str, commitment: float,
               codebook_size: int):
  """One step of encoder, decoder and codebook on the VQ-VAE loss of a batch."""
  del rng
  x = batch["image"]
  params = {"encoder": state.encoder.params, "decoder": state.decoder.params,
            "quantizer": state.quantizer.params}

  def loss_fn(params):
    logits, z_e, e, codes = _forward(state, params, x)
    pixels = x[0].size
    recon = reconstruction.reconstruction_loss(logits, x, loss) * pixels  # summed over pixels
    codebook = _sum_per_example(jnp.square(jax.lax.stop_gradient(z_e) - e))
    commit = _sum_per_example(jnp.square(z_e - jax.lax.stop_gradient(e)))
    mse = jnp.mean(jnp.square(jax.nn.sigmoid(logits) - x))
    return recon + codebook + commitment * commit, (mse, codebook, commit, codes)

  (value, (mse, codebook, commit, codes)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  new_state = VQState(encoder=state.encoder.apply_gradients(grads=grads["encoder"]),
                      decoder=state.decoder.apply_gradients(grads=grads["decoder"]),
                      quantizer=state.quantizer.apply_gradients(grads=grads["quantizer"]))
  metrics = {"loss": value, "mse": mse, "codebook": codebook, "commitment": commit,
             "perplexity": perplexity(codes, codebook_size), "grad_norm": global_norm(list(grads.values()))}
  return new_state, metrics


def check(config: ml_collections.ConfigDict) -> None:
  """The latent must split into whole codes; the rest as for the other autoencoders."""
  reconstruction.check(config)
  m = config.model
  if m.code_dim < 1 or m.latent_dim % m.code_dim or m.codebook_size < 2:
    raise UsageError(f"vqvae needs model.latent_dim ({m.latent_dim}) divisible by a positive "
                     f"model.code_dim ({m.code_dim}) and model.codebook_size >= 2 ({m.codebook_size})")


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  m = config.model
  encoder, decoder = models.build_autoencoder(m, spec.shape)
  quantizer = VectorQuantizer(m.codebook_size, m.code_dim)
  tx = state_lib.make_optimizer(config.train)

  def init(rng):
    enc_rng, dec_rng, q_rng = jax.random.split(rng, 3)
    z = jnp.zeros((1, m.latent_dim), jnp.float32)
    return VQState(encoder=state_lib.create(encoder, enc_rng, jnp.zeros((1, *spec.shape), jnp.float32), tx),
                   decoder=state_lib.create(decoder, dec_rng, z, tx),
                   quantizer=state_lib.create(quantizer, q_rng, z, tx))

  def params_of(state):
    return {"encoder": state.encoder.params, "decoder": state.decoder.params,
            "quantizer": state.quantizer.params}

  @jax.jit
  def evaluate(state, eval_x, rng):
    del rng
    logits, _, _, codes = _forward(state, params_of(state), eval_x)
    return {"mse": jnp.mean(jnp.square(jax.nn.sigmoid(logits) - eval_x)),
            "perplexity": perplexity(codes, m.codebook_size)}

  @jax.jit
  def encode(state, x):
    """The quantised code z_q: what the decoder reads."""
    z_e = state.encoder.apply_fn({"params": state.encoder.params}, x)
    return state.quantizer.apply_fn({"params": state.quantizer.params}, z_e)[0]

  @jax.jit
  def decode(state, z):
    return jax.nn.sigmoid(state.decoder.apply_fn({"params": state.decoder.params}, z))

  @jax.jit
  def codes_of(state, x):
    z_e = state.encoder.apply_fn({"params": state.encoder.params}, x)
    return state.quantizer.apply_fn({"params": state.quantizer.params}, z_e)[1]

  def test_scores(state, x_test):
    """Codeword use over the test split: perplexity and the number of codewords used."""
    codes = map_in_chunks(lambda xb: codes_of(state, xb), x_test)
    return {"test_perplexity": float(perplexity(jnp.asarray(codes), m.codebook_size)),
            "codewords_used": int(len(np.unique(codes))), "codebook_size": m.codebook_size}

  parts = None

  def anomaly_score(state, x_NxHxWxC, rng, samples=1):
    del rng, samples
    return reconstruction.per_image_error(parts, state, x_NxHxWxC)

  step = functools.partial(train_step, loss=config.train.loss, commitment=m.commitment,
                           codebook_size=m.codebook_size)
  parts = Parts(init=init, train_step=step, examples_per_step=config.train.batch_size, evaluate=evaluate,
                encode=encode, encoder_params=lambda state: state.encoder.params, decode=decode,
                anomaly_score=anomaly_score, test_scores=test_scores,
                modules={"encoder": encoder, "decoder": decoder, "quantizer": quantizer})
  return parts


register(Objective("autoencoder", "vqvae", _build, check))
