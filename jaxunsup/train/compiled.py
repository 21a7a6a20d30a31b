"""The one cache of compiled code (and of what compiled code hangs on) in a process.

jit keys its caches on the identity of the function it traces and of a state's static fields (a
module's apply, an optimizer). Whatever builds such objects (an objective's parts for a config,
the loop's segment runner for a step, a gather for a mesh) asks `once` for them: equal keys get
the very same objects, so a sweep of a hundred cells or ten one-class models compiles once, and
no other module keeps a cache of its own.
"""

from typing import Callable, Hashable, TypeVar

T = TypeVar("T")
_MADE: dict = {}


def once(key: Hashable, make: Callable[[], T]) -> T:
  """make() the first time `key` is asked for in this process, the same object afterwards."""
  if key not in _MADE:
    _MADE[key] = make()
  return _MADE[key]
