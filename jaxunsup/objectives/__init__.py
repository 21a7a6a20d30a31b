"""One module per training objective: its losses and its train step."""
