"""TFDS builder for the rendered shapes (see shapes_dataset_builder.py)."""
