"""Figures: image grids, reconstructions, latent maps, curves (PNG, matplotlib Agg)."""

from typing import Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from jaxunsup.eval import pca as pca_lib  # noqa: E402
from jaxunsup.train import files  # noqa: E402


def tile(images_NxHxWxC: np.ndarray, ncol: int) -> np.ndarray:
  """Arranges images in a grid with a 1-pixel gap; returns an (H', W', C) array."""
  images = np.asarray(images_NxHxWxC, np.float32)
  n, h, w, c = images.shape
  nrow = -(-n // ncol)
  grid = np.ones((nrow * (h + 1) + 1, ncol * (w + 1) + 1, c), np.float32)
  for i, img in enumerate(images):
    r, col = divmod(i, ncol)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = img
  return grid


def _save(fig, path: str) -> None:
  try:
    files.save_figure(fig, path)
  finally:
    plt.close(fig)


def _show(ax, grid: np.ndarray, title: str) -> None:
  ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
  ax.set_title(title)
  ax.axis("off")


def save_grid(path: str, images_NxHxWxC: np.ndarray, title: str, ncol: int = 10) -> None:
  """Saves images in [0, 1] as one grid."""
  fig, ax = plt.subplots(figsize=(ncol * 0.6, -(-len(images_NxHxWxC) // ncol) * 0.6 + 0.4))
  _show(ax, tile(images_NxHxWxC, ncol), title)
  _save(fig, path)


def save_traversals(path: str, images_NxHxWxC: np.ndarray, row_labels: Sequence[str], title: str) -> None:
  """Latent traversals: one row per latent dimension, labelled on the left."""
  ncol = len(images_NxHxWxC) // len(row_labels)
  fig, ax = plt.subplots(figsize=(ncol * 0.6 + 1.2, len(row_labels) * 0.6 + 0.4))
  _show(ax, tile(images_NxHxWxC, ncol), title)
  h = images_NxHxWxC.shape[1]
  for r, label in enumerate(row_labels):  # tile() puts row r at 1 + r (h + 1)
    ax.text(-1, 1 + r * (h + 1) + h / 2, label, ha="right", va="center", fontsize=7)
  _save(fig, path)


def save_reconstructions(path: str, x_NxHxWxC: np.ndarray, recon_NxHxWxC: np.ndarray, title: str,
                         ncol: int = 10) -> None:
  """Originals and reconstructions in alternating rows."""
  pairs = []
  for start in range(0, len(x_NxHxWxC), ncol):
    pairs += [x_NxHxWxC[start:start + ncol], recon_NxHxWxC[start:start + ncol]]
  save_grid(path, np.concatenate(pairs), f"{title} (odd rows: input, even rows: reconstruction)", ncol)


def _class_scatter(ax, z_Nx2: np.ndarray, labels_N: np.ndarray, size: float):
  """Points coloured by class on one fixed 10-colour scale, so every panel and figure agrees."""
  return ax.scatter(z_Nx2[:, 0], z_Nx2[:, 1], c=labels_N, cmap="tab10", s=size, alpha=0.7,
                    vmin=-0.5, vmax=9.5)


def _class_colorbar(fig, ax, points, class_names: Optional[Sequence[str]], **kwargs) -> None:
  # One tick per class: the scale has room for 10, a dataset may have fewer (shapes has 3).
  cbar = fig.colorbar(points, ax=ax, ticks=range(len(class_names) if class_names else 10), **kwargs)
  if class_names:
    cbar.ax.set_yticklabels(class_names)


def save_latent_scatter(path: str, z_NxD: np.ndarray, labels_N: np.ndarray, title: str,
                        class_names: Optional[Sequence[str]] = None) -> None:
  """2-D scatter of latents coloured by label (labels -1: unlabelled, one colour); latents with
  D > 2 are projected by PCA first."""
  z = np.asarray(z_NxD, np.float64)
  axis_name = "z"
  if z.shape[1] > 2:
    z = pca_lib.fit(z, 2).encode(z)
    axis_name = "PCA of z, axis "
  fig, ax = plt.subplots(figsize=(6.5, 5.5))
  if np.all(np.asarray(labels_N) < 0):  # an unlabelled dataset: one colour, no class scale
    ax.scatter(z[:, 0], z[:, 1], s=3, alpha=0.7)
  else:
    _class_colorbar(fig, ax, _class_scatter(ax, z, labels_N, size=3), class_names)
  ax.set_xlabel(f"{axis_name}1")
  ax.set_ylabel(f"{axis_name}2")
  ax.set_title(title)
  _save(fig, path)


def save_curves(path: str, rows: Sequence[Mapping[str, float]], keys: Sequence[str], title: str) -> None:
  """One panel per metric key, plotted against step (log y where the metric stays positive)."""
  keys = [k for k in keys if any(k in r for r in rows)]
  fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.2 * max(len(keys), 1), 3.4), squeeze=False)
  for ax, key in zip(axes[0], keys):
    steps = [r["step"] for r in rows if key in r]
    values = [r[key] for r in rows if key in r]
    ax.plot(steps, values)
    if values and min(values) > 0:
      ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(key)
    ax.grid(alpha=0.3)
  fig.suptitle(title)
  _save(fig, path)


def save_step_curves(path: str, curves: Mapping[str, tuple], ylabel: str, title: str) -> None:
  """Several runs' curves of one metric on one axis: {label: (steps, values)}."""
  fig, ax = plt.subplots(figsize=(6.4, 4.0))
  for label, (steps, values) in curves.items():
    ax.plot(steps, values, marker=".", label=label)
  ax.set_xlabel("step")
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  ax.set_title(title)
  _save(fig, path)


def save_label_sweep(path: str, rows: Sequence[Mapping], all_per_class: int, title: str) -> None:
  """Test accuracy against labels per class (log x), one panel per evaluation, one line per
  objective, error bars one std over seeds; "all labels" sits at the split's mean per class."""
  evaluations = list(dict.fromkeys(r["evaluation"] for r in rows))
  fig, axes = plt.subplots(1, len(evaluations), figsize=(4.6 * len(evaluations), 3.8), squeeze=False,
                           sharey=True)
  for ax, evaluation in zip(axes[0], evaluations):
    for objective in dict.fromkeys(r["objective"] for r in rows):
      pts = sorted((r["labels_per_class"] or all_per_class, r["accuracy_mean"], r["accuracy_std"])
                   for r in rows if r["objective"] == objective and r["evaluation"] == evaluation)
      if pts:
        x, mean, std = zip(*pts)
        ax.errorbar(x, 100 * np.array(mean), yerr=100 * np.array(std), marker="o", capsize=3,
                    label=objective)
    ax.set_xscale("log")
    # Ticks at the measured label counts only: log axes label minor ticks that crowd each other.
    levels = sorted({r["labels_per_class"] for r in rows}, key=lambda v: v or float("inf"))
    ax.set_xticks([v or all_per_class for v in levels], [str(v) if v else "all" for v in levels])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("labels per class")
    ax.set_title(evaluation)
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("test accuracy (%)")
  axes[0][-1].legend()
  fig.suptitle(title)
  _save(fig, path)


def save_maps(path: str, panels: Sequence[tuple], labels_N: np.ndarray, title: str,
              class_names: Optional[Sequence[str]] = None, ncol: int = 3) -> None:
  """A grid of 2-D maps (title, z_Nx2) of the same points, coloured by label, one legend."""
  ncol = min(ncol, len(panels))
  nrow = -(-len(panels) // ncol)
  fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 4.0 * nrow), squeeze=False)
  for ax in axes.flat[len(panels):]:
    ax.axis("off")
  points = None
  for ax, (name, z_Nx2) in zip(axes.flat, panels):
    points = _class_scatter(ax, z_Nx2, labels_N, size=2)
    ax.set_title(name, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
  _class_colorbar(fig, axes.ravel().tolist(), points, class_names, shrink=0.8)
  fig.suptitle(title)
  _save(fig, path)


def save_score_table(path: str, values: Mapping[str, Sequence[float]], columns: Sequence[str],
                     title: str, vmin: float = 0.5, vmax: float = 1.0) -> None:
  """A heatmap of scores, one row per method and one column per group plus their mean, each cell
  printed: readable with many methods, where grouped bars are not."""
  names = list(values)
  table = np.array([list(values[n]) + [float(np.mean(values[n]))] for n in names])
  fig, ax = plt.subplots(figsize=(1.0 + 0.62 * table.shape[1] + 0.07 * max(map(len, names)),
                                  0.8 + 0.32 * len(names)))
  ax.imshow(table, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
  for (i, j), v in np.ndenumerate(table):
    ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7,
            color="black" if v > vmin + 0.6 * (vmax - vmin) else "white",
            fontweight="bold" if j == table.shape[1] - 1 else "normal")
  ax.set_xticks(np.arange(table.shape[1]))
  ax.set_xticklabels(list(columns) + ["mean"], rotation=30 if max(map(len, columns)) > 3 else 0,
                     fontsize=8)
  ax.set_yticks(np.arange(len(names)))
  ax.set_yticklabels(names, fontsize=8)
  ax.set_title(title, fontsize=10)
  _save(fig, path)


def save_sweep(path: str, x_labels: Sequence[str], panels: Mapping[str, Mapping[str, Sequence[float]]],
               xlabel: str, title: str) -> None:
  """Metrics over the settings of one knob, one panel each: {panel title: {series: values}}, the
  settings spaced evenly and named by `x_labels`."""
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
  for ax, (name, series) in zip(axes[0], panels.items()):
    for label, values in series.items():
      ax.plot(range(len(x_labels)), values, marker="o", label=label)
    ax.set_xticks(range(len(x_labels)), x_labels)
    ax.set_xlabel(xlabel)
    ax.set_title(name)
    ax.grid(alpha=0.3)
    if len(series) > 1:
      ax.legend(fontsize=7)
  fig.suptitle(title)
  _save(fig, path)
