"""Configs for experiments/benchmark.py: train-step speed of every model family.

Variants (`--config=experiments/configs/benchmark.py:VARIANT`):
  default      every model at its training batch size in the loop training uses on this backend
               (`train.loop=auto`), float32, with the PyTorch peers; the MLP AE's epoch in both.
  both_loops   every model in both loops (slow on CPU: a conv step inside XLA's CPU while loop
               takes several times as long; see train/loop.py).
  bfloat16     the default with bf16 compute (float32 params and optimizer state).
  batch_sweep  the MLP autoencoder and DCGAN over batch sizes 32 to 1024.
  gan_speed    DCGAN and WGAN-GP generator and critic variants against PyTorch, batch 128.
  pipelines    the MLP and conv autoencoders on MNIST fed by each input pipeline: the data whole on
               the device against streaming by threads and by 2 worker processes.
  stream64     the conv autoencoder streaming a prepared 64x64 colour folder, `shapes64` (made by
               experiments/synthetic_images.py), with peak memory beside the data's size.
  smoke        tiny models and windows; the tests run it.
"""

import ml_collections

from jaxunsup.configs import from_variant, shared_fields



def base() -> ml_collections.ConfigDict:
  """Every field a benchmark run reads; variants override a few."""
  c = shared_fields()
  c.mesh.data = -1            # the scaling rows use 1, 2, 4, ... of these devices
  # "family/objective" of registered objectives (autoencoder, gan and pretrain families), as
  # their experiment configs train them, optionally with ":block.field=value,..." overrides;
  # "all" stands for every one of them
  c.models = ("all",)
  c.batch_sizes = (0,)        # 0: each model's training batch (its experiment config's)
  c.loops = ("auto",)         # host: one dispatch per step; device: a window in one on-device loop;
                              # auto: what train.loop=auto picks here (host on CPU)
  c.window = 20               # steps per timed window
  c.repeats = 5               # timed windows per row; the median is reported, with min and max
  c.warmup = 1                # untimed windows first (compilation, caches)
  c.loss_steps = 5            # steps from one init in float32 and in `dtype`: their losses compared
  c.peak_matmul = 2048        # CPU peak: an n x n float matmul through XLA, timed in the same run
  c.epoch = True              # time a full MNIST-sized epoch of the MLP AE, data included
  c.scaling = True            # time each model over 1, 2, 4, ... devices when there are several
  c.peers = True              # time the PyTorch references (experiments/peers/) when torch is there
  c.small = False             # tiny widths (the smoke variant): checks plumbing, not speed
  # Input-pipeline rows: each of `pipeline_models` trained on its config's real dataset, fed by
  # "device" (the train split whole on the device, batches gathered there), "stream" (batches read
  # on the host by threads) or "stream:N" (by N worker processes); see train/stream.py.
  c.pipelines = ()
  c.pipeline_models = ("autoencoder/mlp", "autoencoder/conv")
  return c


def both_loops(c):
  c.loops = ("host", "device")


def bfloat16(c):
  c.dtype = "bfloat16"


def batch_sweep(c):
  c.models = ("autoencoder/mlp", "gan/dcgan")
  c.batch_sizes = (32, 64, 128, 256, 512, 1024)
  c.loops = ("host",)
  c.epoch = False
  c.scaling = False


def gan_speed(c):
  """The DCGAN step against PyTorch eager at batch 128: our sub-pixel generator as training runs
  it, the textbook ConvTranspose generator, and WGAN-GP's critic convs by XLA and as patches."""
  c.models = ("gan/dcgan", "gan/dcgan:model.gen_upsampling=transposed",
              "gan/wgan_gp:model.disc_conv_impl=xla", "gan/wgan_gp:model.disc_conv_impl=patches")
  c.batch_sizes = (128,)
  c.window = 10
  c.epoch = False
  c.scaling = False


def pipelines(c):
  c.models = ("autoencoder/mlp", "autoencoder/conv")  # the same steps on resident synthetic data
  c.pipelines = ("device", "stream", "stream:2")
  c.epoch = c.scaling = c.peers = False


def stream64(c):
  c.models = ()
  c.pipelines = ("stream", "stream:2")
  c.pipeline_models = ("autoencoder/conv:data.name=shapes64",)
  c.epoch = c.scaling = c.peers = False


def smoke(c):
  """Seconds on CPU: small models, one short window each; the tests run it."""
  c.small = True
  c.models = ("autoencoder/mlp", "pretrain/simclr")  # one row per loop shape; a GAN compiles longest
  c.batch_sizes = (16,)
  c.loops = ("host",)
  c.window, c.repeats, c.warmup, c.loss_steps = 2, 2, 1, 2
  c.peak_matmul = 256
  c.epoch = False
  c.peers = False


ZERO_ALLOWED = ("warmup",)  # no untimed window: the first window pays for compilation

VARIANTS = {"default": lambda c: None, "both_loops": both_loops, "bfloat16": bfloat16,
            "batch_sweep": batch_sweep, "gan_speed": gan_speed, "pipelines": pipelines, "stream64": stream64,
            "smoke": smoke}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
