"""map_in_chunks: same results as one call, one compiled shape."""

import numpy as np

from jaxunsup import chunked


def test_map_in_chunks_pads_the_last_chunk_to_one_shape():
  shapes = []

  def fn(x):
    shapes.append(x.shape)
    return x * 2

  x = np.arange(25, dtype=np.float32).reshape(25, 1)
  np.testing.assert_array_equal(chunked.map_in_chunks(fn, x, chunk=10), x * 2)
  assert shapes == [(10, 1)] * 3
  np.testing.assert_array_equal(chunked.map_in_chunks(fn, x[:4], chunk=10), x[:4] * 2)

