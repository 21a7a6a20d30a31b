"""The MLP autoencoder of jaxunsup/models/mlp.py in PyTorch eager, with the same train step.

784-512-256-32 with ReLU, mirrored decoder to per-pixel logits, squared error of sigmoid(logits),
Adam at 1e-3 (one optimizer over both networks: Adam is per-parameter, so this equals our
separate encoder and decoder states). Like ours, each step also reads the loss back.
"""

import torch
from torch import nn


def _mlp(sizes):
  layers = []
  for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
    layers.append(nn.Linear(a, b))
    if i < len(sizes) - 2:
      layers.append(nn.ReLU())
  return nn.Sequential(*layers)


def make_step(batch_size=256, hidden=(512, 256), latent_dim=32, pixels=784, lr=1e-3, seed=0):
  """Returns step(): one Adam update of encoder and decoder on a fixed batch."""
  torch.manual_seed(seed)
  encoder = _mlp([pixels, *hidden, latent_dim])
  decoder = _mlp([latent_dim, *hidden[::-1], pixels])
  opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr)
  x = torch.rand(batch_size, pixels)

  def step():
    loss = torch.mean((torch.sigmoid(decoder(encoder(x))) - x) ** 2)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())

  return step
