"""Shared test helpers: a synthetic CIFAR-10 (the real one cannot be downloaded here), a VAE with
a known likelihood, the per-cell accuracies of a label sweep's summary, and an objective's metrics
after a few steps."""

import contextlib
import importlib
import io
import os
import runpy
import subprocess
import sys
import tarfile
from unittest import mock

# The tests' models are tiny and most of the suite's time is XLA compiling them: LLVM's
# optimisation passes cost more than they save here (-O0 code generation: about a third less
# compile time; -O1 made a third of the suite 7% slower). Convolutions run several times slower
# at -O0 (a warm smoke Deep SVDD fit: 4.3 s against 0.7 s), so tests that train convnets keep
# their data small. Set before jax starts; experiment processes and notebook kernels inherit it.
FAST_COMPILE = "--xla_backend_optimization_level=0"
if FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from absl import app, flags  # noqa: E402

from jaxunsup import data  # noqa: E402
from jaxunsup.configs.autoencoder import get_config  # noqa: E402
from jaxunsup.data import cifar  # noqa: E402
from jaxunsup.objectives import registry  # noqa: E402


# The files that took longest on a clean 2-core run (seconds of one worker), longest first. `make
# test` hands whole files to its two workers in collection order (--no-loadscope-reorder), so
# these start first and the workers finish together (about 20 s sooner than by test count; the
# evaluator the GAN tests train is then ready before the notebooks need it).
# Remeasure with `--durations=0` when a file's cost changes a lot; unlisted files follow.
SLOWEST_FIRST = (
    "tests/test_gan_experiment.py",  # 140, about 45 of it training the evaluator
    "tests/test_spmd.py",  # 121
    "tests/test_benchmark.py",  # 50
    "tests/test_pretrain_finetune_experiment.py",  # 47
    "tests/test_faults.py",  # 41
    "tests/test_scan.py",  # 38
    "tests/test_autoencoder_experiment.py",  # 37
    "tests/test_gan_objectives.py",  # 35
    "tests/test_deep_svdd.py",  # 35
    "notebooks/representations.ipynb",  # 33
    "tests/test_dec.py",  # 33
    "tests/test_models.py",  # 33
    "notebooks/autoencoders.ipynb",  # 32
    "tests/test_text_experiment.py",  # 31
    "tests/test_user_data.py",  # 30
    "tests/test_representations_experiment.py",  # 30
    "notebooks/pretrain_finetune.ipynb",  # 29
    "tests/test_loop.py",  # 27
    "tests/test_beta_vae.py",  # 26
    "notebooks/gans.ipynb",  # 26
    "notebooks/text.ipynb",  # 24
    "tests/test_reconstruction.py",  # 23
    "tests/test_fixmatch.py",  # 23
    "tests/test_geom.py",  # 23
    "tests/test_text_models.py",  # 21
    "tests/test_m2.py",  # 21
    "tests/test_n2d.py",  # 20
)


def pytest_collection_modifyitems(config, items):
  rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
  # a stable sort: the unlisted files keep their order
  items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def xla_env(devices: int = 0) -> dict:
  """os.environ for a child process on CPU with `devices` simulated devices (0: the default one),
  keeping the fast-compile flag."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=FAST_COMPILE)
  if devices:
    env["XLA_FLAGS"] += f" --xla_force_host_platform_device_count={devices}"
  return env


def write_cifar_archive(path, per_file: int, seed: int = 0) -> dict:
  """Writes a cifar-10-binary.tar.gz laid out like the real one; returns {split: (images, labels)}."""
  rng = np.random.default_rng(seed)
  arrays = {}
  with tarfile.open(path, "w:gz") as tar:
    for split, names in cifar.FILES.items():
      parts = []
      for name in names:
        images = rng.integers(0, 256, (per_file, 32, 32, 3), dtype=np.uint8)
        labels = (np.arange(per_file) % 10).astype(np.uint8)
        rng.shuffle(labels)
        # One label byte, then the red, green and blue planes.
        rows = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(per_file, -1)], 1)
        member = tarfile.TarInfo(f"{cifar.MEMBER_DIR}/{name}")
        member.size = rows.nbytes
        tar.addfile(member, io.BytesIO(rows.tobytes()))
        parts.append((images, labels))
      arrays[split] = tuple(np.concatenate(p) for p in zip(*parts))
  return arrays


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
  """`python SCRIPT ARGS` run in this process: the exit code, stdout and stderr a subprocess would
  give, without paying ~3 s of imports per call, and with the compiled steps of earlier tests.

  The script defines its flags again on every call; they are removed afterwards. Real processes
  still run where they are the subject: the command line end to end and multi-process runs
  (test_spmd.py), a fresh jax with other devices (test_benchmark.py, test_spmd.py), kills
  (test_faults.py)."""
  # Flags defined once per process (absl's help flags on its first run, jaxunsup.cli's and
  # array_record's on import: TFDS imports it at a split's first read) must exist before `before` is
  # taken, or the first call would remove them and every later read would fail.
  app.define_help_flags()
  importlib.import_module("jaxunsup.cli")
  importlib.import_module("array_record.python.array_record_data_source")
  before = set(flags.FLAGS)
  out, err = io.StringIO(), io.StringIO()
  code = 0
  with mock.patch.object(sys, "argv", [script, *args]), contextlib.redirect_stdout(out), \
      contextlib.redirect_stderr(err):
    try:
      runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
      code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
      flags.FLAGS.unparse_flags()
      for name in set(flags.FLAGS) - before:
        delattr(flags.FLAGS, name)
  return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def cell_accuracies(summary: dict) -> dict:
  """{(objective, evaluation, labels per class): per-seed accuracies} of a sweep's summary."""
  return {(c["objective"], c["evaluation"], c["labels_per_class"]): c["accuracies"] for c in summary["cells"]}


def metrics_after_steps(parts, batch: dict, steps: int = 3) -> dict:
  """The metrics of the `steps`-th jitted step of an objective's parts from init(key 0) on one
  batch, with key i at step i: what the pinned-metrics tests compare.

  The pins were measured on CPU (jax 0.10.2, AMD EPYC and Intel Xeon alike). Matmuls run at
  `highest` precision so that a GPU computes them in float32 too (its default, TF32, keeps 10
  mantissa bits); the tests' rtol of 1e-3 or 1e-4 covers the order of float sums, which differs
  between backends and versions."""
  with jax.default_matmul_precision("highest"):
    state, step = parts.init(jax.random.key(0)), jax.jit(parts.train_step)
    for i in range(steps):
      state, metrics = step(state, batch, jax.random.key(i))
    return {k: float(v) for k, v in metrics.items()}


def constant_vae(pixel_logit: float, name: str = "vae"):
  """A VAE whose posterior is the prior and whose decoder ignores z: log p(x) is known exactly."""
  config = get_config("smoke")
  config.model.name = name
  state = registry.build("autoencoder", name, config, data.input_spec("mnist")).init(jax.random.key(0))
  zero = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  dec_params = zero(state.decoder.params)
  last = sorted(dec_params)[-1]
  dec_params[last]["bias"] = jnp.full_like(dec_params[last]["bias"], pixel_logit)
  return state.replace(encoder=state.encoder.replace(params=zero(state.encoder.params)),
                       decoder=state.decoder.replace(params=dec_params))


@pytest.fixture(scope="session")
def fake_cifar10(tmp_path_factory):
  """(data_dir, arrays): a synthetic CIFAR-10 (500 train, 100 test) prepared in its own data_dir."""
  root = tmp_path_factory.mktemp("cifar10")
  (root / "src").mkdir()
  arrays = write_cifar_archive(root / "src" / cifar.ARCHIVE, per_file=100)
  data.prepare("cifar10", data_dir=str(root / "data"), source_dir=str(root / "src"), verify_hash=False)
  return str(root / "data"), arrays
