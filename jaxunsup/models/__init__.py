"""Model families, built by name from a config."""

from typing import Sequence

import ml_collections

from jaxunsup.errors import UsageError
from jaxunsup.models.conv import ConvDecoder, ConvEncoder
from jaxunsup.models.mlp import MLPDecoder, MLPEncoder

AUTOENCODERS = ("mlp", "conv", "denoising", "vae")
BACKBONES = ("mlp", "conv")


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
  return (ConvEncoder(features, out_dim, act),
          ConvDecoder(features[::-1], tuple(image_shape), act))
