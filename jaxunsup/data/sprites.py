"""The renderer behind the `shapes` dataset: 28x28 sprites drawn from six discrete factors.

Like dSprites (Matthey et al. 2017) the images are drawn, not collected, so each one's generative
factors are known exactly. The grid is `specs.SPECS["shapes"].factors`: shape 3 x scale 4 x
rotation 8 x x 8 x y 8 x brightness 3 = 18,432 images, every combination once, in C order of the
factor indices (brightness fastest). What an index means:

  shape       square, ellipse, triangle (equilateral); also the class label.
  scale       size s of 3, 4, 5 or 6 px: square half-side 0.7 s, ellipse semi-axes s and 0.6 s,
              triangle circumradius 1.15 s (areas within 15% of each other).
  rotation    r/8 of the shape's symmetry period (square 90 degrees, ellipse 180, triangle 120),
              anticlockwise: unlike dSprites' full turn, no two indices draw the same image.
  x, y        the centre, 7 to 21 px from the left (top) edge in steps of 2 px, so every shape
              stays inside the frame.
  brightness  grey level 0.6, 0.8 or 1.0 of 255 on a black background.

Edges are anti-aliased by testing 4x4 points per pixel and averaging. Nothing is random.
"""

import numpy as np

from jaxunsup.data import specs
from jaxunsup.errors import UsageError

SPEC = specs.SPECS["shapes"]
SIZES = tuple(n for _, n in SPEC.factors)
_SIZE = dict(SPEC.factors)
SUPERSAMPLE = 4
SCALES_PX = np.linspace(3.0, 6.0, _SIZE["scale"])
# Whole pixels, so a sprite's pixels are the same wherever it stands: one patch per
# (shape, scale, rotation) serves every position.
X_PX = 7 + 2 * np.arange(_SIZE["x"])
Y_PX = 7 + 2 * np.arange(_SIZE["y"])
WINDOW_PX = 14  # the patch around a centre; the largest sprite reaches 6.9 px from it
PERIODS = np.array([np.pi / 2, np.pi, 2 * np.pi / 3])  # rotational symmetry of each shape
BRIGHTNESS = np.linspace(0.6, 1.0, _SIZE["brightness"])
# The test split: a fixed sample of the grid, also in train (nothing is held out).
TEST_FRACTION = 0.1
TEST_SEED = 0


def factor_grid() -> np.ndarray:
  """Every combination of factor indices once, (N, F) uint8 in C order (the stored order)."""
  return np.indices(SIZES).reshape(len(SIZES), -1).T.astype(np.uint8)


def split_indices() -> dict:
  """{split: sorted grid rows}: train is the whole grid, test a fixed 10% sample of it."""
  n = int(np.prod(SIZES))
  rng = np.random.default_rng(TEST_SEED)
  test = np.sort(rng.choice(n, round(n * TEST_FRACTION), replace=False))
  return {"train": np.arange(n), "test": test}


def render(factors_NxF) -> np.ndarray:
  """Images (N, 28, 28, 1) uint8 of rows of factor indices; one (28, 28, 1) image for one row."""
  factors = np.asarray(factors_NxF)
  one = factors.ndim == 1
  factors_NxF = _check(np.atleast_2d(factors))
  sprites_Mx3, which_N = np.unique(factors_NxF[:, :3], axis=0, return_inverse=True)
  patches_MxPxP = patches(sprites_Mx3)
  level_N = BRIGHTNESS[factors_NxF[:, 5]] * 255
  images = np.zeros((len(factors_NxF), *SPEC.shape), np.uint8)
  half = WINDOW_PX // 2
  for x, y in np.unique(factors_NxF[:, 3:5], axis=0):
    rows = np.flatnonzero((factors_NxF[:, 3] == x) & (factors_NxF[:, 4] == y))
    top, left = Y_PX[y] - half, X_PX[x] - half
    images[rows, top:top + WINDOW_PX, left:left + WINDOW_PX, 0] = np.rint(
        patches_MxPxP[which_N.ravel()[rows]] * level_N[rows, None, None])
  return images[0] if one else images


def patches(sprites_Mx3: np.ndarray) -> np.ndarray:
  """(M, 14, 14) float64: the fraction of each pixel's 4x4 sample points inside the sprite
  (shape, scale, rotation indices), in the window centred on it."""
  shape_M, scale_M, rot_M = np.asarray(sprites_Mx3).T
  t_S = (np.arange(WINDOW_PX * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - WINDOW_PX // 2
  dx_1xS, dy_Sx1 = t_S[None, :], -t_S[:, None]  # rows grow downwards; y points up
  angle_M = rot_M / _SIZE["rotation"] * PERIODS[shape_M]
  cos_M, sin_M, size_M = (a[:, None, None] for a in (np.cos(angle_M), np.sin(angle_M),
                                                       SCALES_PX[scale_M]))
  # The sample points in the sprite's own frame: rotated back by its angle, in units of its size.
  u_MxSxS = (cos_M * dx_1xS + sin_M * dy_Sx1) / size_M
  v_MxSxS = (cos_M * dy_Sx1 - sin_M * dx_1xS) / size_M
  inside_MxSxS = np.zeros(u_MxSxS.shape, bool)
  for k, inside in enumerate((_in_square, _in_ellipse, _in_triangle)):
    chosen_M = shape_M == k
    inside_MxSxS[chosen_M] = inside(u_MxSxS[chosen_M], v_MxSxS[chosen_M])
  blocks = inside_MxSxS.reshape(len(shape_M), WINDOW_PX, SUPERSAMPLE, WINDOW_PX, SUPERSAMPLE)
  return blocks.mean(axis=(2, 4))


def _check(factors_NxF: np.ndarray) -> np.ndarray:
  if factors_NxF.ndim != 2 or factors_NxF.shape[1] != len(SIZES):
    raise UsageError(f"shapes factors must be (N, {len(SIZES)}), got {factors_NxF.shape}")
  if not np.issubdtype(factors_NxF.dtype, np.integer):
    raise UsageError(f"shapes factors must be integer indices, got {factors_NxF.dtype}")
  factors_NxF = factors_NxF.astype(np.int64)
  if (factors_NxF < 0).any() or (factors_NxF >= np.array(SIZES)).any():
    raise UsageError(f"shapes factor indices must lie below their sizes {SIZES}")
  return factors_NxF


def _in_square(u, v):
  return np.maximum(np.abs(u), np.abs(v)) <= 0.7


def _in_ellipse(u, v):
  return np.square(u) + np.square(v / 0.6) <= 1.0


def _in_triangle(u, v):
  # Apex up; inside when on the inner side of the three edges (inradius = circumradius / 2).
  inside = np.ones(u.shape, bool)
  for normal in np.deg2rad([30.0, 150.0, 270.0]):
    inside &= u * np.cos(normal) + v * np.sin(normal) <= 1.15 / 2
  return inside
