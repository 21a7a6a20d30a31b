"""REPORT.md for a set of autoencoder runs: one metrics table, the figures beside it."""

import os
from typing import Mapping

from jaxunsup.train import files


def _fmt(value, digits=4) -> str:
  return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def autoencoder_report(summaries: Mapping[str, dict], command: str, title: str) -> str:
  """Markdown comparing each run with PCA at its latent size; `summaries` maps run dir -> summary."""
  lines = [f"# {title}", "", f"Produced by `{command}`.", "",
           "Test split; pixels in [0, 1]. MSE is per pixel, SSE is summed per image. "
           "PCA is fitted on the train split at the same latent size, in the same run.", "",
           "| model | dataset | latent | steps | train s | test MSE | test SSE/img | PCA MSE | PCA SSE/img | beats PCA |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for run, s in summaries.items():
    lines.append(f"| [{s['model']}]({run}/) | {s['dataset']} | {s['latent_dim']} | {s['steps']} | "
                 f"{s['train_seconds']:.1f} | {_fmt(s['test_mse'])} | {_fmt(s['test_sse_per_image'], 2)} | "
                 f"{_fmt(s['pca_test_mse'])} | {_fmt(s['pca_test_sse_per_image'], 2)} | "
                 f"{'yes' if s['test_mse'] < s['pca_test_mse'] else '**no**'} |")
  vaes = {run: s for run, s in summaries.items() if "test_nll_iw" in s}
  if vaes:
    lines += ["", "VAE on the test split binarized once with a fixed key (nats; the ELBO is a lower "
              "bound on log p(x), the importance-weighted NLL an estimate of -log p(x)):", "",
              "| run | test ELBO | test NLL (IW) | importance samples |", "|---|---|---|---|"]
    for run, s in vaes.items():
      lines.append(f"| {run} | {s['test_elbo']:.2f} | {s['test_nll_iw']:.2f} | {s['iw_samples']} |")
  lines += ["", "## Figures", ""]
  for run, s in summaries.items():
    figures = [f for f in ("reconstructions.png", "latent.png", "samples.png", "curves.png")
               if os.path.exists(os.path.join(s.get("_workdir", run), f))]
    lines.append(f"### {s['model']}")
    lines += [f"![{s['model']} {f[:-4]}]({run}/{f})" for f in figures] + [""]
  return "\n".join(lines) + "\n"


def write(path: str, text: str) -> None:
  """Writes the report atomically."""
  files.write_text(path, text)

