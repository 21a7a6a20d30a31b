"""TFDS builder for Fashion-MNIST (see fashion_mnist_dataset_builder.py)."""
