"""A folder of a user's images read into uint8 arrays, the way `prepare folder` stores them.

Layouts (PNG and JPEG, any depth below a class folder; other files are skipped and counted):
  DIR/CLASS/...               labelled: one subfolder per class, classes in sorted name order
  DIR/...                     unlabelled: images directly in DIR (label -1)
  DIR/train/..., DIR/test/... either layout inside each: the splits as given
Without train/ and test/, a seeded draw of `test_fraction` of each class (of all images when
unlabelled) is the test split. Every image becomes `size` x `size` (shorter side resized, centre
crop), or keeps its size when `size` is 0, which then must be the same for all.
"""

import os

import numpy as np

from jaxunsup.errors import UsageError

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLIT_SEED = 0
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _images_below(directory: str) -> tuple[list[str], int]:
  """Image paths below `directory` in sorted order, and how many other files were skipped."""
  paths, skipped = [], 0
  for root, dirs, names in os.walk(directory):
    dirs.sort()
    for name in sorted(names):
      if name.lower().endswith(EXTENSIONS):
        paths.append(os.path.join(root, name))
      else:
        skipped += 1
  return paths, skipped


def _list_split(directory: str) -> tuple[list[str], list[str] | None, int]:
  """(image paths, the class of each or None when unlabelled, skipped files) of one split folder."""
  entries = sorted(os.listdir(directory))
  subdirs = [e for e in entries if os.path.isdir(os.path.join(directory, e))]
  loose = [e for e in entries if e.lower().endswith(EXTENSIONS)
           and os.path.isfile(os.path.join(directory, e))]
  if subdirs and loose:
    raise UsageError(f"{directory} holds both images ({loose[0]}) and class folders ({subdirs[0]}); "
                     "use one folder per class, or only images for an unlabelled dataset")
  if not subdirs:
    paths, skipped = _images_below(directory)
    return paths, None, skipped
  paths, classes, skipped = [], [], 0
  for name in subdirs:
    found, n = _images_below(os.path.join(directory, name))
    if not found:
      raise UsageError(f"class folder {os.path.join(directory, name)} holds no PNG or JPEG images")
    paths += found
    classes += [name] * len(found)
    skipped += n
  return paths, classes, skipped + len(entries) - len(subdirs)


def _decode(path: str, size: int, channels: int) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as image:
      image = image.convert("L" if channels == 1 else "RGB")
      if size:
        scale = size / min(image.size)
        w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=3.0)
        left, top = (w - size) // 2, (h - size) // 2
        image = image.crop((left, top, left + size, top + size))
      array = np.asarray(image, np.uint8)
  except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
    raise UsageError(f"{path} is not a readable PNG or JPEG ({' '.join(str(e).split())[:120]})") from None
  return array.reshape(*array.shape[:2], channels)


def _channels(paths: list[str]) -> int:
  """1 when every image is greyscale, else 3."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for path in paths:
    try:
      with Image.open(path) as image:
        if image.mode not in _GRAY_MODES:
          return 3
    except (OSError, ValueError) as e:
      raise UsageError(f"{path} is not a readable PNG or JPEG ({' '.join(str(e).split())[:120]})") from None
  return 1


def split_mask(labels_N: np.ndarray, fraction: float, what: str) -> np.ndarray:
  """The test rows: round(fraction * n_c) examples of each class c (labels -1: one pool), by a
  seeded draw; UsageError unless both splits get some of `what`."""
  rng = np.random.default_rng(SPLIT_SEED)
  mask = np.zeros(len(labels_N), bool)
  for c in np.unique(labels_N):
    members = np.flatnonzero(labels_N == c)
    mask[rng.permutation(members)[:round(fraction * len(members))]] = True
  if not mask.any() or mask.all():
    raise UsageError(f"test_fraction {fraction} of {what} leaves a split empty; add data or "
                     "change --test_fraction")
  return mask


def read(directory: str, size: int = 0, channels: int = 0, test_fraction: float = 0.1,
         progress=None) -> dict:
  """The folder as {"splits": {split: (uint8 images (N, S, S, C), int labels (N,))},
  "class_names": tuple (empty when unlabelled), "skipped": files that are not PNG or JPEG,
  "split_from": "folders" or "a seeded draw"}. UsageError on a bad folder."""
  if not os.path.isdir(directory):
    raise UsageError(f"{directory} is not a directory")
  if size < 0 or channels not in (0, 1, 3) or not 0 < test_fraction < 1:
    raise UsageError(f"size must be >= 0 (0: keep), channels 0 (auto), 1 or 3, test_fraction in "
                     f"(0, 1); got {size}, {channels}, {test_fraction}")
  entries = set(os.listdir(directory))
  given = {"train", "test"} <= entries and all(
      os.path.isdir(os.path.join(directory, s)) for s in ("train", "test"))
  listed = {s: _list_split(os.path.join(directory, s)) for s in ("train", "test")} if given else {
      "all": _list_split(directory)}
  for name, (paths, _, _) in listed.items():
    if not paths:
      where = os.path.join(directory, name) if given else directory
      raise UsageError(f"{where} holds no PNG or JPEG images")
  labelled = {classes is not None for _, classes, _ in listed.values()}
  if len(labelled) > 1:
    raise UsageError(f"{directory}: train/ and test/ must both have class folders, or neither")
  class_names = ()
  if labelled == {True}:
    class_names = tuple(sorted({c for _, classes, _ in listed.values() for c in classes}))
    if given:
      extra = sorted(set(listed["test"][1]) - set(listed["train"][1]))
      if extra:
        raise UsageError(f"{directory}/test has class folders that train/ lacks: {', '.join(extra)}")
  every_path = [p for paths, _, _ in listed.values() for p in paths]
  channels = channels or _channels(every_path)
  arrays = {}
  for name, (paths, classes, _) in listed.items():
    images = []
    for path in paths:
      images.append(_decode(path, size, channels))
      if progress is not None:
        progress.update(1)
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1:
      raise UsageError(f"{directory} holds images of different sizes ({shapes[0][:2]} and "
                       f"{shapes[-1][:2]}); give --size to resize and centre-crop them to one")
    labels = (np.full(len(paths), -1, np.int64) if classes is None
              else np.asarray([class_names.index(c) for c in classes], np.int64))
    arrays[name] = (np.stack(images), labels)
  if not given:
    images, labels = arrays.pop("all")
    test = split_mask(labels, test_fraction, f"{len(labels)} images")
    arrays = {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
  if arrays["train"][0].shape[1:] != arrays["test"][0].shape[1:]:
    raise UsageError(f"{directory}: train and test images differ in size; give --size")
  return {"splits": arrays, "class_names": class_names,
          "skipped": sum(n for _, _, n in listed.values()),
          "split_from": "folders" if given else "a seeded draw"}


def count(directory: str) -> int:
  """How many PNG and JPEG files lie below `directory` (for a progress bar)."""
  return len(_images_below(directory)[0]) if os.path.isdir(directory) else 0
