"""PyTorch versions of our models, for side-by-side speed comparisons (optional: pip install -e .[peers])."""
