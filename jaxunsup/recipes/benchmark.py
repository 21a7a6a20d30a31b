"""The benchmark harness of experiments/benchmark.py: how fast each objective trains.

For every registered objective of the image families ("family/name", from its registry record
and its experiment config) and batch size: the train step as the loop runs it (each step
gathers its batch from uint8 images already on the device), dispatched per step (`host`) and as
one on-device loop per window (`device`); compile seconds (the first window's time beyond an
ordinary window's); FLOPs per step from XLA's cost analysis of the lowered step; achieved
FLOP/s; and MFU against the device's peak: on CPU an n x n matmul through XLA timed in the same
run, on GPUs the datasheet's dense peak for the dtype. On CPU the launcher adds the machine's
peak as PyTorch's matmul reaches it in the same run, and the MFU against that (XLA's CPU backend
leaves bf16 tile units unused). With `dtype` bfloat16 each row also compares its loss after a
few steps with float32's from the same init and batches. Optional rows: a full MNIST-sized epoch
of the MLP autoencoder against its steps' pure compute, data-parallel scaling over 1, 2, 4, ...
devices, the input pipelines (real data on the device against streamed from disk, with the
process's peak memory), and (from the launcher, which can import experiments/peers/) PyTorch
eager peers.
"""

import ast
import dataclasses
import os
import platform
import resource
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxunsup import bench, configs
from jaxunsup import data as data_lib
from jaxunsup.configs import benchmark as bench_configs, runs
from jaxunsup.errors import UsageError
from jaxunsup.objectives import registry
from jaxunsup.train import loop, parallel, precision, stream

IMAGE_SHAPE = (28, 28, 1)
MNIST_TRAIN = 60000

# Dense (no sparsity) peak FLOP/s from NVIDIA's datasheets, by device kind and dtype. JAX runs
# float32 matmuls and convolutions on GPUs as TF32 by default, so float32 rows use the TF32 peak.
GPU_PEAKS = {
    "H100 SXM": {"float32": 494.7e12, "bfloat16": 989.4e12},
    "H100 PCIe": {"float32": 378e12, "bfloat16": 756e12},
    "H200": {"float32": 494.7e12, "bfloat16": 989.4e12},
}


def datasheet_kind(device_kind: str) -> Optional[str]:
  """The GPU_PEAKS entry of a CUDA device kind. The SXM H100 names itself by memory
  ("NVIDIA H100 80GB HBM3"), the PCIe one says PCIe; the H100 NVL has other peaks (None)."""
  if "H200" in device_kind:
    return "H200"
  if "H100" in device_kind and "NVL" not in device_kind:
    return "H100 PCIe" if "PCIe" in device_kind else "H100 SXM"
  return None


@dataclasses.dataclass(frozen=True)
class Model:
  """What the harness times: a pure init and train step, and the examples one step takes."""
  name: str
  init: Callable[[jax.Array], object]
  train_step: Callable
  examples_per_step: int
  batch_size: int
  dataset: str = "mnist"


def model_names(models) -> list:
  """The benchmark list: "family/name" of registered objectives; "all" stands for every
  objective of the image families."""
  names = []
  for m in models:
    names += [f"{f}/{n}" for f in runs.IMAGE_FAMILIES for n in registry.names(f)] if m == "all" else [m]
  return list(dict.fromkeys(names))


def _override(config: ml_collections.ConfigDict, assignment: str, name: str) -> None:
  """Applies one `block.field=value` of a model name to its run config."""
  path, _, text = assignment.partition("=")
  *blocks, field = path.split(".")
  node = config
  for block in blocks:
    node = node.get(block) if isinstance(node, ml_collections.ConfigDict) else None
  if not isinstance(node, ml_collections.ConfigDict) or field not in node or not text:
    raise UsageError(f"{assignment!r} in benchmark model {name!r} is not field=value of its config")
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text  # a bare word: a string
  node[field] = type(node[field])(value) if isinstance(node[field], float) else value


def build(name: str, batch_size: int, small: bool, dtype: str = "float32") -> Model:
  """The registered objective `name` as its experiment config trains it (batch_size 0: the
  config's), computing in `dtype`. A name is "family/objective", optionally followed by
  ":field=value,..." overrides of its run config (such as "gan/dcgan:model.gen_upsampling=transposed")."""
  base, _, overrides = name.partition(":")
  family, _, objective = base.partition("/")
  if family not in runs.IMAGE_FAMILIES or objective not in registry.names(family):
    choices = ", ".join(model_names(["all"]))
    raise UsageError(f"unknown model {name!r} in the benchmark list; choose from all, {choices}")
  c = runs.run_config(family, objective, "smoke" if small else "default")
  for assignment in filter(None, overrides.split(",")):
    _override(c, assignment, name)
  c.train.batch_size = batch_size or c.train.batch_size
  c.dtype = dtype
  parts = registry.build(family, objective, c, data_lib.input_spec(c.data.name))
  return Model(name, parts.init, parts.train_step, parts.examples_per_step, c.train.batch_size, c.data.name)


def check(config: ml_collections.ConfigDict) -> parallel.Mesh:
  """Every choice checked before anything is timed or written; returns the mesh of the main rows."""
  configs.check_values(config, bench_configs)
  precision.check(config.dtype)
  if not config.models and not config.pipelines:
    raise UsageError("the benchmark list (models) is empty")
  for p in config.pipelines:
    _pipeline_workers(p)
  for name in config.pipeline_models if config.pipelines else ():
    data_lib.check_name(build(name, 0, config.small, config.dtype).dataset)
  for mode in config.loops:
    if mode not in loop.LOOP_MODES:
      raise UsageError(f"unknown loop {mode!r}; choose one of {', '.join(loop.LOOP_MODES)}")
  if any(not isinstance(b, int) or b < 0 for b in config.batch_sizes) or not config.batch_sizes:
    raise UsageError(f"batch_sizes must be non-negative integers (0: the model's own), got {config.batch_sizes!r}")
  mesh = parallel.make_mesh(config.mesh)
  for name in model_names(config.models):
    for b in config.batch_sizes:
      parallel.check_batch(mesh, build(name, b, config.small, config.dtype).examples_per_step, f"{name}'s batch")
  return mesh


def _data(n: int, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (n, *IMAGE_SHAPE), dtype=np.uint8),
          "label": rng.integers(0, 10, n).astype(np.int32)}


def _first_batch(model: Model, data: dict) -> dict:
  return data_lib.model_inputs({k: jnp.asarray(v)[:model.examples_per_step] for k, v in data.items()})


def step_flops(model: Model, dtype: str) -> float:
  """XLA's FLOP count for one train step, from the lowered step on abstract inputs: no init runs
  and nothing compiles (the compiled step's count differs by under 2 % on these models)."""
  del dtype  # the model's init computes in its config's dtype
  state = jax.eval_shape(model.init, jax.random.key(0))
  images = jax.ShapeDtypeStruct((model.examples_per_step, *IMAGE_SHAPE), jnp.float32)
  batch = {"image": images, "label": jax.ShapeDtypeStruct((model.examples_per_step,), jnp.int32)}
  cost = jax.jit(model.train_step).lower(state, batch, jax.random.key(0)).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else 0.0


def loop_window(model: Model, config: ml_collections.ConfigDict, device_loop: bool,
                mesh: Optional[parallel.Mesh] = None) -> Callable[[], None]:
  """run_window(): the next `config.window` steps through the loop's segment runner."""
  mesh = None if parallel.is_single(mesh) else mesh
  n = model.examples_per_step * config.window
  state, data = parallel.place(mesh, model.init(jax.random.key(0)), _data(n))
  run_segment = loop.make_segment_runner(model.train_step, model.examples_per_step, device_loop, mesh,
                                         data_lib.model_inputs)
  perm = jnp.arange(n) if mesh is None else parallel.put_replicated(mesh, jnp.arange(n))
  held = {"state": state, "start": 0}

  def run_window():
    s = held["start"]
    held["state"], metrics = run_segment(held["state"], data, perm, jax.random.key(1), s, s + config.window)
    held["start"] = s + config.window
    jax.block_until_ready(metrics)

  return run_window


def time_loop(model: Model, config: ml_collections.ConfigDict, device_loop: bool,
              mesh: Optional[parallel.Mesh] = None) -> dict:
  """Timed windows of `config.window` steps through the loop's segment runner."""
  t = bench.time_windows(loop_window(model, config, device_loop, mesh), config.window, config.repeats,
                         max(1, config.warmup))
  # The first window compiles the loop's step: what it took beyond an ordinary window.
  first_ms = t.pop("warmup_ms")[0]
  return {**t, "compile_seconds": max(0.0, first_ms - t["ms_per_step"] * config.window) / 1000}


def loss_after(model: Model, steps: int) -> float:
  """The loss (d_loss for GANs) of the `steps`-th step from a fixed init on fixed batches, through
  the loop's segment runner."""
  n = model.examples_per_step * steps
  run_segment = loop.make_segment_runner(model.train_step, model.examples_per_step, False, None,
                                         data_lib.model_inputs)
  data = jax.tree.map(jnp.asarray, _data(n, seed=1))
  state, perm, key = model.init(jax.random.key(0)), jnp.arange(n), jax.random.key(1)
  if steps > 1:
    state, _ = run_segment(state, data, perm, key, 0, steps - 1)
  _, metrics = run_segment(state, data, perm, key, steps - 1, steps)  # the last step alone
  return float(metrics["loss"] if "loss" in metrics else metrics["d_loss"])


def peak_flops(config: ml_collections.ConfigDict) -> dict:
  """The device's peak FLOP/s for `config.dtype`: measured on CPU, from the datasheet on GPUs."""
  device = jax.devices()[0]
  if device.platform == "gpu":
    kind = datasheet_kind(device.device_kind)
    if kind is None:
      return {"flops": None, "source": f"no datasheet peak recorded for {device.device_kind}"}
    return {"flops": GPU_PEAKS[kind][config.dtype], "source": f"{kind} datasheet, dense {config.dtype}"
            + (" (TF32 tensor cores)" if config.dtype == "float32" else "")}
  n, dtype = config.peak_matmul, precision.DTYPES[config.dtype]
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), dtype)
  matmul = jax.jit(lambda a, b: a @ b)
  reps = max(1, int(2e10 // (2 * n ** 3)))  # about 20 GFLOP per window

  def run_window():
    for _ in range(reps):
      out = matmul(a, b)
    jax.block_until_ready(out)

  t = bench.time_windows(run_window, reps, config.repeats, 1)
  return {"flops": 2 * n ** 3 / (t["ms_per_step"] / 1000), "source":
          f"measured: {n}x{n} {config.dtype} matmul through XLA, median of {config.repeats} windows"}


def time_epochs(config: ml_collections.ConfigDict) -> list:
  """A full epoch of the MLP autoencoder on MNIST-sized uint8 data (shuffle, gather, scale, step)
  in each loop, against one reference: as many steps on one resident float batch, dispatched one
  by one (pure compute). The three take their timed epochs in turn."""
  model = build("autoencoder/mlp", 0, config.small, config.dtype)
  per_step = model.examples_per_step
  steps = MNIST_TRAIN // per_step
  device = jax.local_devices()[0]
  state = jax.device_put(model.init(jax.random.key(0)), device)
  held = {"state": state}
  step = jax.jit(model.train_step, donate_argnums=0)
  batch = jax.device_put(_first_batch(model, _data(per_step)), device)
  key = jax.random.key(0)  # one key: making a key per step is a dispatch of its own

  def run_compute():
    for _ in range(steps):
      held["state"], metrics = step(held["state"], batch, key)
    jax.block_until_ready(metrics)

  data = jax.device_put(_data(MNIST_TRAIN), device)

  def epoch_runner(device_loop):
    run_segment = loop.make_segment_runner(model.train_step, per_step, device_loop, None, data_lib.model_inputs)

    def run_epoch():
      perm = loop.epoch_permutation(jax.random.key(2), 0, MNIST_TRAIN)
      held["state"], metrics = run_segment(held["state"], data, perm, jax.random.key(1), 0, steps)
      jax.block_until_ready(metrics)
    return run_epoch

  t = bench.time_interleaved({"compute": run_compute, "host": epoch_runner(False),
                              "device": epoch_runner(True)}, steps, config.repeats, 1)
  return [{"steps": steps, "batch_size": per_step, "loop": mode,
           "epoch_seconds": t[mode]["ms_per_step"] * steps / 1000,
           "compute_seconds": t["compute"]["ms_per_step"] * steps / 1000,
           "ratio": t[mode]["ms_per_step"] / t["compute"]["ms_per_step"]} for mode in ("host", "device")]


def time_scaling(model: Model, config: ml_collections.ConfigDict, devices: int) -> list:
  """Steps/s of the data-parallel step on 1, 2, 4, ... devices (those the batch divides)."""
  rows, k = [], 1
  while k <= devices:
    if model.examples_per_step % k == 0:
      mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": k, "fsdp": 1}))
      t = time_loop(model, config, jax.default_backend() != "cpu", mesh)
      rows.append({"model": model.name, "devices": k, "ms_per_step": t["ms_per_step"],
                   "samples_per_second": model.examples_per_step * 1000 / t["ms_per_step"]})
    k *= 2
  base = rows[0]["ms_per_step"]
  for r in rows:
    r["speedup"] = base / r["ms_per_step"]
  return rows


def time_peers(rows: list, config: ml_collections.ConfigDict, makers: dict) -> list:
  """PyTorch eager against our faster loop, for each (model, batch) of the rows that `makers`
  (model name -> batch_size -> step(), experiments/peers/) covers. Ours is timed again with the
  PyTorch windows in turn, so that both see the same machine."""
  best = {}
  for r in rows:
    key = (r["model"], r["batch_size"])
    if r["model"] in makers and (key not in best or r["ms_per_step"] < best[key]["ms_per_step"]):
      best[key] = r
  mesh = parallel.make_mesh(config.mesh)
  out = []
  for (name, batch_size), r in best.items():
    torch_step = makers[name](batch_size)
    ours = loop_window(build(name, batch_size, config.small, config.dtype), config, r["loop"] == "device", mesh)
    t = bench.time_interleaved({"ours": ours, "torch": lambda: [torch_step() for _ in range(config.window)]},
                               config.window, config.repeats, config.warmup)
    out.append({"model": name, "batch_size": batch_size, "loop": r["loop"],
                "torch_ms_per_step": t["torch"]["ms_per_step"], "ours_ms_per_step": t["ours"]["ms_per_step"],
                "speedup": t["torch"]["ms_per_step"] / t["ours"]["ms_per_step"]})
  return out


def _pipeline_workers(pipeline: str) -> int | None:
  """None for "device", the worker count for "stream" (0: threads) and "stream:N"."""
  kind, _, workers = pipeline.partition(":")
  if kind == "device" and not workers:
    return None
  if kind == "stream" and (not workers or workers.isdigit()):
    return int(workers or 0)
  raise UsageError(f"unknown pipeline {pipeline!r}; choose device, stream or stream:N (N worker processes)")


def _peak_memory_mb() -> dict:
  """Peak resident memory so far of this process, and of its finished children (the input
  pipeline's worker processes), in MB (Linux reports KB)."""
  return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
          "workers": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def time_pipelines(config: ml_collections.ConfigDict) -> list:
  """Each of `pipeline_models` on the train split of its config's dataset, fed by each pipeline of
  `config.pipelines` in turn, window by window: "device" reads the split whole and gathers each
  batch on the device (the loop's segment runner), "stream[:N]" reads each batch on the host (the
  loop's stream runner). Rows carry ms per step, the ratio to the device pipeline where both ran,
  the data's size and the peak memory after the row."""
  rows = []
  for name in config.pipeline_models:
    model = build(name, 0, config.small, config.dtype)
    reader = data_lib.open_split(model.dataset, "train")
    per_step = model.examples_per_step
    steps_per_epoch = len(reader) // per_step
    if steps_per_epoch < config.window:
      raise UsageError(f"{model.dataset}'s train split holds fewer than {config.window} steps of {per_step}")
    total = config.window * (config.repeats + max(1, config.warmup))
    device = jax.local_devices()[0]
    windows, closers = {}, []
    for pipeline in config.pipelines:
      workers = _pipeline_workers(pipeline)
      held = {"state": jax.device_put(model.init(jax.random.key(0)), device), "start": 0}
      if workers is None:
        data = jax.device_put(reader.read(np.arange(len(reader))), device)
        perm = loop.epoch_permutation(jax.random.key(2), 0, len(reader))
        run_segment = loop.make_segment_runner(model.train_step, per_step, False, None, data_lib.model_inputs)

        def run_window(held=held, data=data, perm=perm, run_segment=run_segment):
          s = held["start"] if held["start"] + config.window <= steps_per_epoch else 0  # within epoch 0
          held["state"], metrics = run_segment(held["state"], data, perm, jax.random.key(1), s, s + config.window)
          held["start"] = s + config.window
          jax.block_until_ready(metrics)
      else:
        batches = stream.Batches(reader, 2, per_step, 0, total, workers, prefetch=2)
        closers.append(batches.close)
        run_stream = loop.make_stream_runner(model.train_step, None, data_lib.model_inputs)

        def run_window(held=held, batches=batches, run_stream=run_stream):
          s = held["start"]
          held["state"], metrics = run_stream(held["state"], batches, jax.random.key(1), s, s + config.window)
          held["start"] = s + config.window
          jax.block_until_ready(metrics)
      windows[pipeline] = run_window
    try:
      t = bench.time_interleaved(windows, config.window, config.repeats, max(1, config.warmup))
    finally:
      for close in closers:
        close()
    memory = _peak_memory_mb()
    for pipeline in config.pipelines:
      r = t[pipeline]
      rows.append({"model": name, "dataset": model.dataset, "pipeline": pipeline, "batch_size": per_step,
                   "ms_per_step": r["ms_per_step"], "min_ms": r["min_ms"], "max_ms": r["max_ms"],
                   "steps_per_second": 1000 / r["ms_per_step"],
                   "relative_to_device": t["device"]["ms_per_step"] / r["ms_per_step"] if "device" in t else None,
                   "data_mb": stream.source_bytes(reader) / 2 ** 20, "peak_rss_mb": memory["self"],
                   "worker_peak_rss_mb": memory["workers"]})
  return rows


def run(config: ml_collections.ConfigDict) -> dict:
  """Every row of the benchmark; the result is what benchmark.json holds."""
  mesh = check(config)
  peak = peak_flops(config)
  modes = list(dict.fromkeys("device" if loop.on_device_loop(m) else "host" for m in config.loops))
  jobs = [(name, b, mode) for name in model_names(config.models) for b in config.batch_sizes for mode in modes]
  rows = []
  for name, b, mode in tqdm(jobs, desc="benchmark", unit="row", dynamic_ncols=True):
    model = build(name, b, config.small, config.dtype)
    flops = step_flops(model, config.dtype)
    t = time_loop(model, config, mode == "device", mesh)
    achieved = flops * 1000 / t["ms_per_step"]
    row = {"model": name, "batch_size": model.batch_size, "examples_per_step": model.examples_per_step,
           "loop": mode, "dtype": config.dtype, "flops_per_step": flops, **t,
           "steps_per_second": 1000 / t["ms_per_step"],
           "samples_per_second": model.examples_per_step * 1000 / t["ms_per_step"],
           "achieved_flops": achieved,
           "mfu": achieved / (peak["flops"] * mesh.size) if peak["flops"] else None}
    if config.dtype != "float32" and mode == modes[0]:
      row["loss"] = loss_after(model, config.loss_steps)
      row["loss_float32"] = loss_after(build(name, b, config.small), config.loss_steps)
      row["loss_relative_difference"] = abs(row["loss"] - row["loss_float32"]) / max(abs(row["loss_float32"]), 1e-12)
    rows.append(row)
  device = jax.devices()[0]
  result = {"device": device.device_kind, "platform": device.platform, "device_count": jax.device_count(),
            "mesh_devices": mesh.size, "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "dtype": config.dtype, "peak": peak, "rows": rows}
  if config.epoch:  # both loops whatever `loops` says: the loop's own comparison
    result["epoch"] = time_epochs(config)
  if config.scaling and jax.device_count() > 1:
    result["scaling"] = [r for name in model_names(config.models) for r in
                         time_scaling(build(name, config.batch_sizes[0], config.small, config.dtype), config,
                                      jax.device_count())]
  else:
    result["scaling_note"] = f"{jax.device_count()} device(s): no scaling rows"
  if config.pipelines:
    result["pipelines"] = time_pipelines(config)
  return result


def add_machine_peak(result: dict, flops: float, source: str) -> None:
  """Records the machine's peak as another library reaches it (the launcher measures PyTorch's
  matmul) and each row's MFU against it, beside the MFU against XLA's own peak."""
  result["machine_peak"] = {"flops": flops, "source": source}
  for r in result["rows"]:
    r["mfu_machine"] = r["achieved_flops"] / (flops * result["mesh_devices"])


def _g(x, digits=3) -> str:
  return "-" if x is None else f"{x:.{digits}g}"


def markdown(result: dict) -> str:
  """The tables of benchmark.md."""
  machine = result.get("machine_peak")
  lines = [f"Device: {result['device']} x {result['device_count']} ({result['platform']}, "
           f"{result['cpu_count']} CPU cores), jax {result['jax']}, dtype {result['dtype']}. "
           f"Peak {_g(result['peak']['flops'])} FLOP/s ({result['peak']['source']})"
           + (f"; the machine's peak {_g(machine['flops'])} FLOP/s ({machine['source']})." if machine else ".")]
  if result["rows"]:
    lines += ["", "| model | batch | loop | compile s | ms/step (median) | min | max | steps/s | samples/s "
              "| GFLOP/step | achieved GFLOP/s | MFU |" + (" MFU, machine peak |" if machine else ""),
              "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if machine else "")]
  pct = lambda v: f"{100 * v:.1f}%" if v is not None else "-"
  for r in result["rows"]:
    lines.append(f"| {r['model']} | {r['batch_size']} | {r['loop']} | {r['compile_seconds']:.2f} "
                 f"| {r['ms_per_step']:.2f} | {r['min_ms']:.2f} | {r['max_ms']:.2f} | {r['steps_per_second']:.1f} "
                 f"| {r['samples_per_second']:.0f} | {r['flops_per_step'] / 1e9:.3g} "
                 f"| {r['achieved_flops'] / 1e9:.3g} | {pct(r['mfu'])} |"
                 + (f" {pct(r.get('mfu_machine'))} |" if machine else ""))
  checked = [r for r in result["rows"] if "loss" in r]
  if checked:
    lines += ["", f"Loss after a few steps, {result['dtype']} against float32 (same init and batches):", "",
              "| model | batch | loss | float32 loss | relative difference |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch_size']} | {r['loss']:.5g} | {r['loss_float32']:.5g} "
              f"| {r['loss_relative_difference']:.2e} |" for r in checked]
  for e in result.get("epoch", []):
    lines += ["", f"MLP AE epoch ({e['loop']} loop, {e['steps']} steps of {e['batch_size']}, MNIST-sized "
              f"uint8 data): {e['epoch_seconds']:.2f} s, pure compute {e['compute_seconds']:.2f} s, "
              f"ratio {e['ratio']:.2f}"]
  if result.get("scaling"):
    lines += ["", "| model | devices | ms/step | samples/s | speedup |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['devices']} | {r['ms_per_step']:.2f} | {r['samples_per_second']:.0f} "
              f"| {r['speedup']:.2f} |" for r in result["scaling"]]
  elif "scaling_note" in result:
    lines += ["", f"Scaling: {result['scaling_note']}."]
  if result.get("pipelines"):
    lines += ["", "Input pipelines: the train split on the device, or streamed from disk (train/stream.py); "
              "peak memory is this process's so far, and its finished worker processes' largest.", "",
              "| model | data | pipeline | batch | ms/step (median) | min | max | steps/s | speed vs device "
              "| data MB | peak RSS MB | worker peak MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['dataset']} | {r['pipeline']} | {r['batch_size']} | {r['ms_per_step']:.2f} "
              f"| {r['min_ms']:.2f} | {r['max_ms']:.2f} | {r['steps_per_second']:.1f} "
              f"| {_g(r['relative_to_device'])} | {r['data_mb']:.0f} | {r['peak_rss_mb']:.0f} "
              f"| {r['worker_peak_rss_mb']:.0f} |" for r in result["pipelines"]]
  if "peers" in result:
    lines += ["", f"PyTorch eager ({result['torch']}):", ""]
    if result["peers"]:
      lines += ["Timed in turn, window by window; ours is retimed here, so it can differ a little from "
                "the table above.", "",
                "| model | batch | PyTorch ms/step | ours ms/step (loop) | PyTorch time / ours |",
                "|---|---|---|---|---|"]
      lines += [f"| {p['model']} | {p['batch_size']} | {p['torch_ms_per_step']:.2f} | {p['ours_ms_per_step']:.2f} "
                f"({p['loop']}) | {p['speedup']:.2f} |" for p in result["peers"]]
  return "\n".join(lines) + "\n"
