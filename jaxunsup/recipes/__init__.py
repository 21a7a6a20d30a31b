"""Recipes: what each experiment does, from a config to a workdir of results and figures.

Each recipe imports the library (data, models, objectives, train, eval and the shared helpers one
floor down) and never another recipe; the launchers in experiments/ only parse flags and call one.
"""
