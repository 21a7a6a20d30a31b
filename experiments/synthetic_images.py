"""Writes a folder of synthetic colour images, one subfolder per class, for `prepare folder`.

python experiments/synthetic_images.py --out=/tmp/shapes64 --count=200000 --size=64
python -m jaxunsup.data prepare folder /tmp/shapes64 --name shapes64

Each image is a disc, a square, a triangle or a ring (the class) of random size, place and colour
on a random two-colour gradient, drawn from --seed: a dataset of any size for the streaming
benchmark (docs/benchmarks.md) with a content a GAN's evaluator can learn. Rerunning with the same
flags rewrites the same files.
"""

import os

import numpy as np
from absl import flags
from PIL import Image
from tqdm.auto import tqdm

from jaxunsup import cli
from jaxunsup.errors import UsageError

CLASSES = ("disc", "square", "triangle", "ring")

_OUT = flags.DEFINE_string("out", None, "Folder to write (DIR/CLASS/NNNNNNN.png).")
_COUNT = flags.DEFINE_integer("count", 200000, "Number of images.")
_SIZE = flags.DEFINE_integer("size", 64, "Side of the square images, pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of every random choice.")
flags.mark_flags_as_required(["out"])


def draw(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
  """One uint8 (size, size, 3) image of class `label`."""
  ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
  a, b = rng.uniform(0, 255, (2, 3))
  angle = rng.uniform(0, 2 * np.pi)
  t = (np.cos(angle) * xs + np.sin(angle) * ys + 1.5) / 3
  image = a + (b - a) * t[..., None]
  r = rng.uniform(0.15, 0.3)
  cy, cx = rng.uniform(r, 1 - r, 2)
  dy, dx = ys - cy, xs - cx
  if CLASSES[label] == "disc":
    mask = dy ** 2 + dx ** 2 < r ** 2
  elif CLASSES[label] == "square":
    mask = (np.abs(dy) < r * 0.85) & (np.abs(dx) < r * 0.85)
  elif CLASSES[label] == "triangle":
    mask = (dy < r * 0.7) & (dy > -r + 2 * np.abs(dx))
  else:
    mask = (dy ** 2 + dx ** 2 < r ** 2) & (dy ** 2 + dx ** 2 > (0.55 * r) ** 2)
  image[mask] = rng.uniform(0, 255, 3)
  return np.clip(image, 0, 255).astype(np.uint8)


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _COUNT.value < len(CLASSES) or _SIZE.value < 8:
    raise UsageError(f"--count must be >= {len(CLASSES)} and --size >= 8")
  rng = np.random.default_rng(_SEED.value)
  for name in CLASSES:
    os.makedirs(os.path.join(_OUT.value, name), exist_ok=True)
  for i in tqdm(range(_COUNT.value), desc="images", unit="image", disable=None):
    label = i % len(CLASSES)
    path = os.path.join(_OUT.value, CLASSES[label], f"{i:07d}.png")
    Image.fromarray(draw(rng, label, _SIZE.value)).save(path, compress_level=1)
  print(f"{_COUNT.value} images of {_SIZE.value}x{_SIZE.value} in {_OUT.value}")


if __name__ == "__main__":
  cli.run(main)
