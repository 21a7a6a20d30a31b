"""Command line: `python -m jaxunsup.data prepare NAME... [--source_dir DIR]`.

Also takes `--data_dir DIR`; see `python -m jaxunsup.data prepare --help`.
"""

import argparse
import sys

from jaxunsup import data
from jaxunsup.errors import UsageError


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are UsageErrors (one line, exit code 2)."""

  def error(self, message):
    raise UsageError(message)


def _parse(argv):
  parser = _Parser(prog="python -m jaxunsup.data",
                   description="Prepare datasets for jaxunsup.")
  commands = parser.add_subparsers(dest="command", required=True)
  prep = commands.add_parser(
      "prepare", help="build datasets once into the data directory")
  prep.add_argument("names", nargs="+", metavar="NAME",
                    help=f"datasets to prepare: {', '.join(data.DATASETS + data.TEXT_DATASETS)}")
  prep.add_argument("--source_dir", default=None,
                    help="directory holding the canonical files: the four IDX"
                         " files (MNIST, Fashion-MNIST), cifar-10-binary.tar.gz, or the"
                         " tweets' CSV")
  prep.add_argument("--data_dir", default=None,
                    help=f"where to store datasets (default: "
                         f"{data.default_data_dir()})")
  return parser.parse_args(argv)


def main(argv=None) -> int:
  """Runs the command line; returns the exit status."""
  try:
    args = _parse(argv)
    # Check every name before spending time on the first one.
    for name in args.names:
      data.check_name(name)
    if args.source_dir is not None and len(args.names) > 1:
      raise UsageError("--source_dir holds one dataset: prepare one name at"
                       " a time with it")
    for name in args.names:
      data.prepare(name, data_dir=args.data_dir, source_dir=args.source_dir)
  except UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
