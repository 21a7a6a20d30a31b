"""Data-parallel SPMD over a device mesh: batches sharded on `data` (and `fsdp`), state replicated
or, with an `fsdp` axis, sharded along each array's largest divisible dimension.

The config's `mesh` block picks the mesh: {"data": D, "fsdp": F}, D = -1 for every device left.
XLA's SPMD partitioner inserts the gradient all-reduces, so a train step is written once, for one
device, and runs unchanged on a mesh. Multi-host runs call `jax.distributed.initialize()` first
(jaxunsup/cli.py; docs/benchmarks.md).
"""

from typing import Any, Optional

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxunsup.errors import UsageError
from jaxunsup.train import compiled

AXES = ("data", "fsdp")
BATCH = P(AXES)  # the leading (example) axis split over every device of the mesh


def make_mesh(mesh_cfg: Optional[ml_collections.ConfigDict]) -> Mesh:
  """The (data, fsdp) mesh of `mesh_cfg` over the first data * fsdp devices (of every host)."""
  devices = jax.devices()
  data = int(mesh_cfg.data) if mesh_cfg is not None else 1
  fsdp = int(mesh_cfg.fsdp) if mesh_cfg is not None else 1
  if fsdp < 1 or (data < 1 and data != -1):
    raise UsageError(f"mesh.data must be positive or -1 and mesh.fsdp positive, got data={data}, fsdp={fsdp}")
  if data == -1:
    data = max(1, len(devices) // fsdp)
  if data * fsdp > len(devices):
    raise UsageError(f"mesh data={data} x fsdp={fsdp} needs {data * fsdp} devices but "
                     f"{len(devices)} are present")
  return Mesh(np.array(devices[:data * fsdp]).reshape(data, fsdp), AXES)


def check_batch(mesh: Mesh, batch_size: int, what: str = "train.batch_size") -> None:
  """Refuses a batch that does not split evenly over the mesh's devices."""
  if batch_size % mesh.size:
    raise UsageError(f"{what} {batch_size} is not divisible by the {mesh.size} devices of the mesh")


def _state_spec(shape: tuple, fsdp: int) -> P:
  # FSDP shards the largest dimension that divides evenly; small or odd arrays stay replicated.
  if fsdp == 1 or not shape:
    return P()
  dims = [d for d in np.argsort(shape)[::-1] if shape[d] % fsdp == 0 and shape[d] >= fsdp]
  if not dims:
    return P()
  spec = [None] * len(shape)
  spec[dims[0]] = "fsdp"
  return P(*spec)


def state_shardings(mesh: Mesh, state: Any) -> Any:
  """A NamedSharding per leaf of `state` (arrays or shape structs)."""
  fsdp = mesh.shape["fsdp"]
  return jax.tree.map(lambda x: NamedSharding(mesh, _state_spec(tuple(np.shape(x)), fsdp)), state)


def put_state(mesh: Mesh, state: Any) -> Any:
  return jax.device_put(state, state_shardings(mesh, state))


def put_replicated(mesh: Mesh, tree: Any) -> Any:
  return jax.device_put(tree, NamedSharding(mesh, P()))


def place(mesh: Optional[Mesh], state: Any, data: Any) -> tuple:
  """(state, data) where a run keeps them: on this process's first device without a mesh of
  several devices (committed there: jit keys its cache on committed-ness), else the state laid
  out by `state_shardings` and the data whole on every device."""
  if is_single(mesh):
    device = jax.local_devices()[0]
    return jax.device_put(state, device), jax.device_put(data, device)
  return put_state(mesh, state), put_replicated(mesh, data)


def constrain_batch(mesh: Mesh, batch: Any) -> Any:
  """Inside jit: lay the batch's leading axis over every device of the mesh."""
  return jax.lax.with_sharding_constraint(batch, NamedSharding(mesh, BATCH))


def constrain_state(mesh: Mesh, state: Any) -> Any:
  """Inside jit: keep the state's layout step after step (no recompiles from a drifting sharding)."""
  return jax.lax.with_sharding_constraint(state, state_shardings(mesh, state))


def _replicate(mesh: Mesh):
  return compiled.once(("replicate", mesh), lambda: jax.jit(lambda tree: tree, out_shardings=NamedSharding(mesh, P())))


def to_local(mesh: Mesh, tree: Any) -> Any:
  """`tree` whole on this process's first device (an all-gather where it is sharded, and across
  hosts in a multi-process run, where device_put cannot reach the other hosts' shards)."""
  return jax.tree.map(lambda x: x.addressable_data(0), _replicate(mesh)(tree))


def is_single(mesh: Optional[Mesh]) -> bool:
  return mesh is None or mesh.size == 1
