"""Evaluations that outlive one experiment: baselines, scores, probes."""
