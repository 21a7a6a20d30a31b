"""Model families, built by name from a config."""

from typing import Sequence

import ml_collections

from jaxunsup.errors import UsageError
from jaxunsup.models.conv import ConvDecoder, ConvEncoder
from jaxunsup.models.gan import (CONDITIONINGS, CONV_IMPLS, UPSAMPLINGS, DCDiscriminator, DCGenerator,
                                 MLPDiscriminator, MLPGenerator)
from jaxunsup.models.mlp import MLPDecoder, MLPEncoder

AUTOENCODERS = ("mlp", "conv", "denoising", "vae")
BACKBONES = ("mlp", "conv")
GAN_ARCHITECTURES = ("mlp", "dcgan")


def backbone_name(model_cfg: ml_collections.ConfigDict) -> str:
  """The encoder/decoder architecture behind a model name (denoising and vae pick one)."""
  if model_cfg.name not in AUTOENCODERS:
    raise UsageError(f"unknown model {model_cfg.name!r}; choose one of {', '.join(AUTOENCODERS)}")
  name = model_cfg.name if model_cfg.name in BACKBONES else model_cfg.backbone
  if name not in BACKBONES:
    raise UsageError(f"unknown model.backbone {name!r}; choose one of {', '.join(BACKBONES)}")
  return name


def build_autoencoder(model_cfg: ml_collections.ConfigDict, image_shape: Sequence[int]):
  """Returns (encoder, decoder) modules; a VAE's encoder emits mean and log-variance."""
  out_dim = model_cfg.latent_dim * (2 if model_cfg.name == "vae" else 1)
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
  shape = tuple(image_shape)
  if arch == "mlp":
    hidden = tuple(model_cfg.hidden)
    return (MLPGenerator(hidden, shape, num_classes),
            MLPDiscriminator(hidden[::-1], num_classes, model_cfg.conditioning))
  gen_features = tuple(model_cfg.gen_features)
  if len(gen_features) != 2 or shape[0] % 4 or shape[1] % 4:
    raise UsageError(f"dcgan needs two model.gen_features and an image side divisible by 4, got "
                     f"{gen_features} and {shape}")
  if model_cfg.gen_upsampling not in UPSAMPLINGS:
    raise UsageError(f"unknown model.gen_upsampling {model_cfg.gen_upsampling!r}; "
                     f"choose one of {', '.join(UPSAMPLINGS)}")
  if model_cfg.disc_conv_impl not in CONV_IMPLS:
    raise UsageError(f"unknown model.disc_conv_impl {model_cfg.disc_conv_impl!r}; "
                     f"choose one of {', '.join(CONV_IMPLS)}")
  return (DCGenerator(gen_features, shape, num_classes, model_cfg.gen_kernel, model_cfg.gen_batch_norm,
                      model_cfg.gen_upsampling),
          DCDiscriminator(tuple(model_cfg.disc_features), num_classes, model_cfg.conditioning,
                          model_cfg.disc_kernel, model_cfg.disc_conv_impl))
