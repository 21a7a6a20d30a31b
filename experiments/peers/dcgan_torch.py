"""The DCGAN of jaxunsup/models/gan.py in PyTorch eager, with the same non-saturating train step.

Two generator variants: `subpixel` is our architecture exactly (conv to 4C channels, then
PixelShuffle); `transposed` is the textbook DCGAN upsampling (ConvTranspose2d, kernel 4, stride 2)
with the same channels. The discriminator is the same in both.
"""

import torch
from torch import nn
from torch.nn import functional as F


class Generator(nn.Module):

  def __init__(self, latent_dim=64, features=(128, 64), channels=1, side=28, kernel=3, upsampling="subpixel"):
    super().__init__()
    self.f0, self.s0 = features[0], side // 4
    self.fc = nn.Linear(latent_dim, self.s0 * self.s0 * features[0])
    self.bn0 = nn.BatchNorm1d(self.s0 * self.s0 * features[0], momentum=0.1)
    if upsampling == "subpixel":
      up = lambda c_in, c_out: nn.Sequential(nn.Conv2d(c_in, 4 * c_out, kernel, padding="same"), nn.PixelShuffle(2))
    else:
      up = lambda c_in, c_out: nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    self.up1 = up(features[0], features[1])
    self.bn1 = nn.BatchNorm2d(features[1], momentum=0.1)
    self.up2 = up(features[1], channels)

  def forward(self, z):
    h = F.relu(self.bn0(self.fc(z))).view(-1, self.f0, self.s0, self.s0)
    h = F.relu(self.bn1(self.up1(h)))
    return torch.tanh(self.up2(h))


class Discriminator(nn.Module):

  def __init__(self, features=(64, 128), channels=1, side=28, kernel=4):
    super().__init__()
    # padding 1 halves 28 -> 14 -> 7 for kernel 3 and 4 alike, as "SAME" does in Flax
    self.conv1 = nn.Conv2d(channels, features[0], kernel, stride=2, padding=1)
    self.conv2 = nn.Conv2d(features[0], features[1], kernel, stride=2, padding=1)
    self.fc = nn.Linear(features[1] * (side // 4) ** 2, 1)

  def forward(self, x):
    h = F.leaky_relu(self.conv1(x), 0.2)
    h = F.leaky_relu(self.conv2(h), 0.2)
    return self.fc(h.flatten(1))[:, 0]


def make_step(upsampling="subpixel", batch_size=128, latent_dim=64, gen_kernel=3, disc_kernel=4, lr=2e-4, seed=0):
  """Returns step(): one discriminator and one generator update on a fixed real batch."""
  torch.manual_seed(seed)
  gen = Generator(latent_dim, kernel=gen_kernel, upsampling=upsampling)
  disc = Discriminator(kernel=disc_kernel)
  opt_g = torch.optim.Adam(gen.parameters(), lr, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(disc.parameters(), lr, betas=(0.5, 0.999))
  real = torch.rand(batch_size, 1, 28, 28) * 2 - 1

  return lambda: update(gen, disc, opt_g, opt_d, real, latent_dim)


def update(gen, disc, opt_g, opt_d, real, latent_dim: int) -> float:
  """One non-saturating discriminator and generator update on `real`; returns the generator loss."""
  fake = gen(torch.randn(len(real), latent_dim))
  d_loss = F.softplus(-disc(real)).mean() + F.softplus(disc(fake.detach())).mean()
  opt_d.zero_grad(set_to_none=True)
  d_loss.backward()
  opt_d.step()
  g_loss = F.softplus(-disc(fake)).mean()
  opt_g.zero_grad(set_to_none=True)
  g_loss.backward()
  opt_g.step()
  return float(g_loss.detach())
