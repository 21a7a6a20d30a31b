"""Training machinery shared by every experiment: state, loop, checkpoints, logging."""
