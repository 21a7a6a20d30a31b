"""N2D (McConville, Santos-Rodriguez, Piechocki & Craddock 2020): cluster a representation by
clustering its local manifold.

UMAP (eval/umap.py) embeds the features in `dim` dimensions (0: as many as clusters), keeping
each point's `neighbours` nearest points together, with min_dist 0 so that a class may contract
into a tight clump; a Gaussian mixture of k full-covariance components (sklearn's EM; one start
as in the paper, or the likeliest of `n_init`) then clusters the embedding. The paper runs it on
the codes of DEC's 784-500-500-2000-10 autoencoder, with 20 neighbours on MNIST.

The neighbour graph and its spectral start depend only on the features (`Graph`, made once per
representation); a trial's seed draws the layout's negative samples and the mixture's start.
"""

import dataclasses
from typing import Callable, Optional

import ml_collections
import numpy as np
from scipy import sparse
from sklearn.mixture import GaussianMixture

from jaxunsup.errors import UsageError
from jaxunsup.eval import umap
from jaxunsup.objectives import dec

COVARIANCES = ("full", "tied", "diag", "spherical")


def check(block: ml_collections.ConfigDict) -> None:
  """UsageError for settings a trial cannot run, before any data is read."""
  where = "clustering.n2d"
  if block.neighbours < 2:
    raise UsageError(f"{where}.neighbours must be >= 2 (the point itself is the first), got {block.neighbours}")
  if block.dim < 0:
    raise UsageError(f"{where}.dim must be >= 0 (0: as many as clusters), got {block.dim}")
  if min(block.epochs, block.negatives, block.batches, block.n_init) < 1:
    raise UsageError(f"{where}: epochs, negatives, batches and n_init must be >= 1")
  if not 0 <= block.min_dist <= block.spread:
    raise UsageError(f"{where}: needs 0 <= min_dist <= spread, got {block.min_dist} and {block.spread}")
  if block.covariance not in COVARIANCES:
    raise UsageError(f"{where}.covariance {block.covariance!r} is not one of {', '.join(COVARIANCES)}")


def dim_of(block: ml_collections.ConfigDict, k: int) -> int:
  return block.dim or k


def check_size(block: ml_collections.ConfigDict, num_examples: int, k: int) -> None:
  """UsageError when the images are too few for the neighbours or the embedding asked for."""
  dec.check_clusters(num_examples, k)
  if block.neighbours > num_examples or dim_of(block, k) + 1 >= num_examples:
    raise UsageError(f"clustering.n2d needs more images than its {block.neighbours} neighbours and "
                     f"{dim_of(block, k) + 1} embedding dimensions; {num_examples} are clustered")


@dataclasses.dataclass(frozen=True)
class Graph:
  graph: sparse.coo_matrix     # UMAP's fuzzy neighbour graph
  start_NxD: np.ndarray        # its spectral embedding
  purity: Optional[float]      # the share of the mined neighbours that share the point's label


def graph(features_NxD: np.ndarray, block: ml_collections.ConfigDict, k: int,
          labels_N: Optional[np.ndarray] = None) -> Graph:
  """The part of every trial that does not depend on its seed."""
  g, indices = umap.neighbour_graph(features_NxD, block.neighbours)
  purity = None if labels_N is None else float(np.mean(labels_N[indices] == labels_N[:, None]))
  return Graph(g, umap.spectral_start(g, dim_of(block, k)), purity)


def mixture(z_NxD: np.ndarray, k: int, block: ml_collections.ConfigDict, seed: int) -> np.ndarray:
  """(N,) the components of a k-component Gaussian mixture fitted to z: of `block.n_init` EM runs
  from k-means starts, the one with the highest likelihood (no label is used to choose)."""
  gmm = GaussianMixture(k, covariance_type=block.covariance, n_init=block.n_init, random_state=seed)
  return gmm.fit_predict(np.asarray(z_NxD, np.float64))


def fit(block: ml_collections.ConfigDict, made: Graph, k: int, seed: int,
        progress: Optional[Callable[[int], None]] = None) -> dict:
  """One trial: {"labels": (N,) clusters, "embedding": (N, dim) the UMAP layout}; `progress(epochs done)`."""
  y = umap.layout(made.graph, made.start_NxD, seed, epochs=block.epochs, min_dist=block.min_dist,
                  spread=block.spread, negatives=block.negatives, batches=block.batches, progress=progress)
  return {"labels": mixture(y, k, block, seed), "embedding": y}
