"""Experiment configs as importable data; experiments/configs/ points the launchers here."""
