"""Entry-point plumbing: absl flags, and bad input as one line on stderr with exit code 2."""

import sys
from typing import Callable

from absl import app, flags, logging

from jaxunsup.errors import UsageError
from jaxunsup.train import files


_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "Multi-host runs: HOST:PORT of process 0. With --num_processes and "
    "--process_id, jax.distributed.initialize() runs before anything else (docs/benchmarks.md).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host runs: how many processes in all.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host runs: this process's index, 0 to N-1.")


def _initialize_distributed() -> None:
  given = [f.value is not None for f in (_COORDINATOR, _NUM_PROCESSES, _PROCESS_ID)]
  if not any(given):
    return
  if not all(given):
    raise UsageError("--coordinator_address, --num_processes and --process_id go together")
  if _NUM_PROCESSES.value < 1 or not 0 <= _PROCESS_ID.value < _NUM_PROCESSES.value:
    raise UsageError(f"--process_id must be in [0, {_NUM_PROCESSES.value}) and --num_processes positive")
  import jax
  jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)


def fail(message: str) -> None:
  """Prints `error: message` (first line only) to stderr and exits with code 2."""
  first = str(message).strip().splitlines()[0] if str(message).strip() else "bad input"
  print(f"error: {first}", file=sys.stderr)
  sys.exit(2)


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    cause = e.__cause__ or e.__context__
    fail(str(cause) if isinstance(cause, UsageError) else str(e))
  except UsageError as e:  # raised by a config file's get_config while flags are parsed
    fail(str(e))
  except (AttributeError, KeyError) as e:  # ml_collections: an override names no config field
    key = str(e.args[0] if e.args else e).strip("'\"")
    fail(f"unknown config key {key!r}; overrides must name fields of the config "
         "(--config.FIELD.SUBFIELD=VALUE)")
  except (TypeError, ValueError) as e:
    fail(f"bad config override: {e}")


def run(main: Callable) -> None:
  """Like absl.app.run, but flag errors and UsageError end the process with exit code 2."""

  def guarded(argv):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    try:
      _initialize_distributed()
      return main(argv)
    except UsageError as e:
      fail(str(e))
    except OSError as e:
      if "config file" in str(e):  # ml_collections reports a missing config file lazily
        fail("cannot load the --config file: " + " ".join(str(e).split(":", 1)[-1].split()))
      # The machine, not the code: a full disk, a read-only or missing folder, a file in the way.
      fail(files.explain(e, e.filename or "a file"))

  app.run(guarded, flags_parser=_parse_flags)
