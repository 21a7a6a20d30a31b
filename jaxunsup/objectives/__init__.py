"""One module per training objective: its losses, its train step and its registered record
(registry.py). Importing the package imports every module in it, which registers every
objective: a new objective is a new module here, and nothing else to edit."""

import importlib
import pkgutil

# The families' long-standing objectives first, so the choices listed in messages read in order.
_FIRST = ("reconstruction", "vae", "gan", "contrastive", "sequence", "classification")

for _module in _FIRST + tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                                     if m.name not in _FIRST + ("registry",))):
  importlib.import_module(f"{__name__}.{_module}")
