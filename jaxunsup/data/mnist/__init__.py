"""TFDS builder for MNIST (see mnist_dataset_builder.py)."""
