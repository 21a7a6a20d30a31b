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
