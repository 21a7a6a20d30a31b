"""TFDS builder for CIFAR-10 (see cifar10_dataset_builder.py)."""
