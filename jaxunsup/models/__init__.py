"""Model families, built by name from a config."""

from typing import Sequence

import ml_collections

from jaxunsup.errors import UsageError
from jaxunsup.models.conv import ConvDecoder, ConvEncoder
from jaxunsup.models.layers import INITS
from jaxunsup.models.gan import (CONDITIONINGS, CONV_IMPLS, UPSAMPLINGS, DCDiscriminator, DCGenerator,
                                 MLPDiscriminator, MLPGenerator, generator_widths)
from jaxunsup.models.mlp import MLPDecoder, MLPEncoder
from jaxunsup.models.text import CELLS, ConvTextEncoder, RecurrentEncoder

TEXT_ENCODERS = ("rnn", "conv")

BACKBONES = ("mlp", "conv")
GAN_ARCHITECTURES = ("mlp", "dcgan")


def backbone_name(model_cfg: ml_collections.ConfigDict) -> str:
  """The encoder/decoder architecture of an autoencoder config: the model's name where it names
  one (mlp, conv), else `model.backbone` (denoising, vae and the other objectives pick one)."""
  name = model_cfg.name if model_cfg.name in BACKBONES else model_cfg.backbone
  if name not in BACKBONES:
    raise UsageError(f"unknown model.backbone {name!r}; choose one of {', '.join(BACKBONES)}")
  return name


def build_autoencoder(model_cfg: ml_collections.ConfigDict, image_shape: Sequence[int],
                      encoder_outputs: int = 1):
  """Returns (encoder, decoder) modules; the encoder emits `encoder_outputs` vectors of
  latent_dim (a VAE's two: mean and log-variance), the decoder reads one."""
  out_dim = model_cfg.latent_dim * encoder_outputs
  act = model_cfg.activation
  if backbone_name(model_cfg) == "mlp":
    hidden = tuple(model_cfg.hidden)
    return (MLPEncoder(hidden, out_dim, act),
            MLPDecoder(hidden[::-1], tuple(image_shape), act))
  features = tuple(model_cfg.features)
  stage_convs = model_cfg.get("stage_convs", 1)
  if not isinstance(stage_convs, int) or stage_convs < 1:
    raise UsageError(f"model.stage_convs must be a positive integer, got {stage_convs!r}")
  return (ConvEncoder(features, out_dim, act, stage_convs),
          ConvDecoder(features[::-1], tuple(image_shape), act))


def build_gan(arch: str, model_cfg: ml_collections.ConfigDict, image_shape: Sequence[int],
              num_classes: int):
  """Returns (generator, discriminator) modules; num_classes > 0 makes both class-conditional."""
  if arch not in GAN_ARCHITECTURES:
    raise UsageError(f"unknown GAN architecture {arch!r}; choose one of {', '.join(GAN_ARCHITECTURES)}")
  if num_classes and model_cfg.conditioning not in CONDITIONINGS:
    raise UsageError(f"unknown model.conditioning {model_cfg.conditioning!r}; "
                     f"choose one of {', '.join(CONDITIONINGS)}")
  init = model_cfg.get("init", "lecun")
  if init not in INITS:
    raise UsageError(f"unknown model.init {init!r}; choose one of {', '.join(INITS)}")
  shape = tuple(image_shape)
  if arch == "mlp":
    hidden = tuple(model_cfg.hidden)
    return (MLPGenerator(hidden, shape, num_classes, init),
            MLPDiscriminator(hidden[::-1], num_classes, model_cfg.conditioning, model_cfg.spectral_norm, init))
  gen_features = tuple(model_cfg.gen_features)
  if len(gen_features) != 2:
    raise UsageError(f"dcgan needs two model.gen_features, got {gen_features}")
  doublings = len(generator_widths(gen_features, shape))
  if shape[0] % 2 ** doublings or shape[1] % 2 ** doublings:
    raise UsageError(f"dcgan's generator doubles its first map {doublings} times, so the image sides must be "
                     f"divisible by {2 ** doublings}, not {shape[0]}x{shape[1]}; prepare the data with another --size")
  if model_cfg.gen_upsampling not in UPSAMPLINGS:
    raise UsageError(f"unknown model.gen_upsampling {model_cfg.gen_upsampling!r}; "
                     f"choose one of {', '.join(UPSAMPLINGS)}")
  if model_cfg.disc_conv_impl not in CONV_IMPLS:
    raise UsageError(f"unknown model.disc_conv_impl {model_cfg.disc_conv_impl!r}; "
                     f"choose one of {', '.join(CONV_IMPLS)}")
  return (DCGenerator(gen_features, shape, num_classes, model_cfg.gen_kernel, model_cfg.gen_batch_norm,
                      model_cfg.gen_upsampling, init),
          DCDiscriminator(tuple(model_cfg.disc_features), num_classes, model_cfg.conditioning,
                          model_cfg.disc_kernel, model_cfg.disc_conv_impl, model_cfg.spectral_norm, init))


def check_text_encoder(model_cfg: ml_collections.ConfigDict) -> None:
  """UsageError for an unknown text encoder or recurrent cell."""
  if model_cfg.encoder not in TEXT_ENCODERS:
    raise UsageError(f"unknown model.encoder {model_cfg.encoder!r}; choose one of {', '.join(TEXT_ENCODERS)}")
  if model_cfg.encoder == "rnn" and model_cfg.cell not in CELLS:
    raise UsageError(f"unknown model.cell {model_cfg.cell!r}; choose one of {', '.join(CELLS)}")


def build_encoder(model_cfg: ml_collections.ConfigDict, spec):
  """The representation backbone of the pretraining experiments for an input spec: the conv
  encoder (features, stage_convs, rep_dim, activation) for images; for token ids the recurrent or
  1-d conv text encoder (encoder, embed_dim, and hidden, cell, bidirectional or features, kernel)."""
  if spec.key == "ids":
    check_text_encoder(model_cfg)
    if model_cfg.encoder == "conv":
      return ConvTextEncoder(spec.vocab_size, model_cfg.embed_dim, tuple(model_cfg.features), model_cfg.kernel)
    return RecurrentEncoder(spec.vocab_size, model_cfg.embed_dim, model_cfg.hidden, model_cfg.cell,
                            model_cfg.bidirectional)
  return ConvEncoder(tuple(model_cfg.features), model_cfg.rep_dim, model_cfg.activation, model_cfg.stage_convs)
