"""GAN train-step speed: our DCGAN (JAX) against the same architecture in PyTorch eager, in one run.

python experiments/gan_speed.py --workdir=runs/gan_speed [--batch_size=128]

Times, at the dcgan config's architecture: our jitted step as training runs it (a window of steps
in one on-device loop), the same step dispatched once per step, our generator with textbook
ConvTranspose upsampling, and PyTorch eager with sub-pixel (our architecture) and with
ConvTranspose2d upsampling (needs torch: pip install -e .[peers]; skipped and said so without).
Also our WGAN-GP generator step (n_critic critic updates with the gradient penalty) with the
critic's convs as XLA convolutions and as patch matmuls. Writes speed.json and speed.md into the
workdir.
"""

import json
import os
import platform

from absl import flags

from jaxunsup import cli
from jaxunsup.errors import UsageError

_WORKDIR = flags.DEFINE_string("workdir", None, "Where to write speed.json and speed.md.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of every variant.")
_WINDOW = flags.DEFINE_integer("window", 10, "Steps per timed window.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed windows per variant (the median is reported).")
_GEN_KERNEL = flags.DEFINE_integer("gen_kernel", None, "Override model.gen_kernel (both frameworks).")
_DISC_KERNEL = flags.DEFINE_integer("disc_kernel", None, "Override model.disc_kernel (both frameworks).")


def _model_config():
  from jaxunsup.configs.gan import get_config
  config = get_config("dcgan")
  if _GEN_KERNEL.value:
    config.model.gen_kernel = _GEN_KERNEL.value
  if _DISC_KERNEL.value:
    config.model.disc_kernel = _DISC_KERNEL.value
  return config
flags.mark_flags_as_required(["workdir"])


def _time_task(config, batch_size, window, repeats, single_dispatch=False):
  """Timed windows of the configured train step on random uint8 images, as training runs it."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from jaxunsup import bench, data
  from jaxunsup.recipes import gan
  from jaxunsup.train import loop

  config.train.batch_size = batch_size
  task = gan.make_task(config, data.input_spec("mnist"), scorer=None, workdir="")
  per_step = task.examples_per_step or batch_size
  rng = np.random.default_rng(0)
  n = per_step * window
  data = {"image": jnp.asarray(rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)),
          "label": jnp.zeros((n,), jnp.int32)}
  holder = {"state": task.init(jax.random.key(0)), "start": 0}
  if single_dispatch:
    step = jax.jit(task.train_step, donate_argnums=0)
    batch = {"image": data["image"][:per_step].astype(jnp.float32) / 255, "label": data["label"][:per_step]}

    def run_window():
      for i in range(window):
        holder["state"], metrics = step(holder["state"], batch, jax.random.key(i))
      jax.block_until_ready(metrics)
  else:
    run_segment = loop.make_segment_runner(task.train_step, per_step, prepare=task.prepare)

    def run_window():
      s = holder["start"]
      holder["state"], metrics = run_segment(holder["state"], data, jnp.arange(n), jax.random.key(1), s, s + window)
      holder["start"] = s + window
      jax.block_until_ready(metrics)

  return bench.time_windows(run_window, window, repeats)


def _jax_variants(batch_size, window, repeats):
  from jaxunsup.configs.gan import get_config
  out = {}
  for name, upsampling in (("jax_subpixel", "subpixel"), ("jax_transposed", "transposed")):
    config = _model_config()
    config.model.gen_upsampling = upsampling
    out[name] = _time_task(config, batch_size, window, repeats)
  out["jax_subpixel_per_step_dispatch"] = _time_task(_model_config(), batch_size, window, repeats, True)
  # WGAN-GP, per generator step (n_critic critic updates): its gradient penalty differentiates
  # through the critic's input gradient, where the conv implementation matters on CPU
  for impl in ("xla", "patches"):
    config = get_config("wgan_gp")
    config.model.disc_conv_impl = impl
    out[f"jax_wgan_gp_{impl}_convs"] = _time_task(config, batch_size, max(1, window // 5), repeats)
  return out


def _torch_variants(batch_size, window, repeats):
  try:
    import torch
  except ImportError:
    return {}, "torch is not installed (pip install -e .[peers]); PyTorch rows skipped"
  from peers import dcgan_torch  # experiments/ is on sys.path when this script runs
  from jaxunsup import bench
  torch.set_num_threads(os.cpu_count())
  out = {}
  model = _model_config().model
  for upsampling in ("subpixel", "transposed"):
    step = dcgan_torch.make_step(upsampling, batch_size, model.latent_dim, model.gen_kernel, model.disc_kernel)
    out[f"torch_{upsampling}"] = bench.time_windows(lambda: [step() for _ in range(window)], window, repeats)
  return out, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _BATCH.value < 1 or _WINDOW.value < 1 or _REPEATS.value < 1:
    raise UsageError("--batch_size, --window and --repeats must be positive")
  import jax
  rows = _jax_variants(_BATCH.value, _WINDOW.value, _REPEATS.value)
  torch_rows, torch_note = _torch_variants(_BATCH.value, _WINDOW.value, _REPEATS.value)
  rows.update(torch_rows)
  ours = rows["jax_subpixel"]["ms_per_step"]
  result = {"device": str(jax.devices()[0].device_kind), "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "batch_size": _BATCH.value, "torch": torch_note, "rows": rows,
            "speedup_vs_torch": {k: v["ms_per_step"] / ours for k, v in rows.items() if k.startswith("torch_")}}
  model = _model_config().model
  result["gen_kernel"], result["disc_kernel"] = model.gen_kernel, model.disc_kernel
  os.makedirs(_WORKDIR.value, exist_ok=True)
  with open(os.path.join(_WORKDIR.value, "speed.json"), "w") as f:
    json.dump(result, f, indent=2)
  lines = [f"DCGAN train step (generator kernel {model.gen_kernel}, discriminator kernel "
           f"{model.disc_kernel}), batch {_BATCH.value}, {result['device']} ({os.cpu_count()} cores), "
           f"jax {jax.__version__}; {torch_note}", "",
           "| variant | ms/step (median) | min | max | PyTorch time / ours |", "|---|---|---|---|---|"]
  for k, v in rows.items():
    ratio = f"{v['ms_per_step'] / ours:.2f}" if k.startswith("torch_") else ""
    lines.append(f"| {k} | {v['ms_per_step']:.1f} | {v['min_ms']:.1f} | {v['max_ms']:.1f} | {ratio} |")
  with open(os.path.join(_WORKDIR.value, "speed.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  cli.run(main)
