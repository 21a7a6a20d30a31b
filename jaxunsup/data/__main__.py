"""Command line: `python -m jaxunsup.data prepare NAME... [--source_dir DIR]` for the built-in
datasets, `prepare folder DIR --name NAME [--size S]` for a folder of images and `prepare text FILE
--name NAME` for a CSV or JSONL of texts. All take `--data_dir DIR`; see `--help` of each.
"""

import argparse
import os
import sys

from jaxunsup import data
from jaxunsup.data import user
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
                    help=f"datasets to prepare: {', '.join(data.DATASETS + data.TEXT_DATASETS)};"
                         " or `folder DIR --name NAME`, `text FILE --name NAME` for your own")
  prep.add_argument("--source_dir", default=None,
                    help="directory holding the canonical files: the four IDX"
                         " files (MNIST, Fashion-MNIST), cifar-10-binary.tar.gz, or the"
                         " tweets' CSV")
  prep.add_argument("--data_dir", default=None,
                    help=f"where to store datasets (default: "
                         f"{data.default_data_dir()})")
  return parser.parse_args(argv)


def _parse_user(argv):
  """`prepare folder DIR --name NAME ...` or `prepare text FILE --name NAME ...`."""
  kind = argv[1]
  parser = _Parser(prog=f"python -m jaxunsup.data prepare {kind}",
                   description="Prepare your own " + (
                       "images: DIR/CLASS/*.png|jpg (labelled), DIR/*.png|jpg (unlabelled), either"
                       " inside DIR/train and DIR/test to fix the split." if kind == "folder" else
                       "texts: a CSV with a header row, or JSONL; fields text, optional label and"
                       " split (train or test)."))
  parser.add_argument("source", metavar="DIR" if kind == "folder" else "FILE")
  parser.add_argument("--name", required=True, help="the dataset's name in --config.data.name")
  parser.add_argument("--test_fraction", type=float, default=0.1,
                      help="share of each class drawn (seed 0) as the test split, unless the"
                           " source fixes the split (default 0.1)")
  if kind == "folder":
    parser.add_argument("--size", type=int, default=0,
                        help="resize the shorter side to SIZE and centre-crop to SIZE x SIZE"
                             " (default 0: keep the size, which must then be the same for all)")
    parser.add_argument("--channels", type=int, default=0, choices=(0, 1, 3),
                        help="1 (greyscale) or 3 (RGB); default 0: 1 when every image is greyscale")
    parser.add_argument("--mirror_symmetric", action="store_true",
                        help="a horizontal flip keeps every image's class (augmentations may flip)")
  parser.add_argument("--data_dir", default=None,
                      help=f"where to store datasets (default: {data.default_data_dir()})")
  return parser.parse_args(argv[2:])


def _prepare_user(kind: str, args) -> None:
  root = data.default_data_dir() if args.data_dir is None else args.data_dir
  root = os.path.abspath(os.path.expanduser(root))
  if kind == "folder":
    user.prepare_folder(args.source, args.name, root, args.size, args.channels,
                        args.test_fraction, args.mirror_symmetric)
  else:
    user.prepare_text(args.source, args.name, root, args.test_fraction)


def main(argv=None) -> int:
  """Runs the command line; returns the exit status."""
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    if len(argv) >= 2 and argv[0] == "prepare" and argv[1] in user.KINDS:
      _prepare_user(argv[1], _parse_user(argv))
      return 0
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
