"""Text encoders and decoders over token ids padded with `tokenizer.PAD` (id 0).

Every module takes the padded id array alone and works out each sequence's length from the
padding, so extra padding never changes what it computes (tested).
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxunsup.errors import UsageError
from jaxunsup.text.tokenizer import PAD

CELLS = ("lstm", "gru")


def _cell(kind: str, hidden: int, name: str) -> nn.RNNCellBase:
  if kind == "lstm":
    return nn.OptimizedLSTMCell(hidden, name=name)
  if kind == "gru":
    return nn.GRUCell(hidden, name=name)
  raise UsageError(f"unknown model.cell {kind!r}; choose one of {', '.join(CELLS)}")


def _hidden(kind: str, carry):
  return carry[1] if kind == "lstm" else carry  # an LSTM's carry is (c, h)


def lengths(ids_BxT: jnp.ndarray) -> jnp.ndarray:
  return jnp.sum(ids_BxT != PAD, axis=1)


class RecurrentEncoder(nn.Module):
  """Token embedding, then an LSTM or GRU (optionally bidirectional) read up to each sequence's
  end; the representation is the final hidden state (both directions' concatenated)."""
  vocab_size: int
  embed_dim: int
  hidden: int
  cell: str = "lstm"
  bidirectional: bool = False

  @nn.compact
  def __call__(self, ids_BxT: jnp.ndarray, return_sequence: bool = False):
    """The representation (B, hidden or 2 hidden); with return_sequence, also the per-step
    outputs (B, T, ...), meaningful only up to each length."""
    n = lengths(ids_BxT)
    x = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(ids_BxT)
    rnn = nn.RNN(_cell(self.cell, self.hidden, "forward_cell"), name="forward")
    carry, out = rnn(x, seq_lengths=n, return_carry=True)
    h = _hidden(self.cell, carry)
    if self.bidirectional:
      back = nn.RNN(_cell(self.cell, self.hidden, "backward_cell"), reverse=True, keep_order=True,
                    name="backward")
      carry_b, out_b = back(x, seq_lengths=n, return_carry=True)
      h = jnp.concatenate([h, _hidden(self.cell, carry_b)], -1)
      out = jnp.concatenate([out, out_b], -1)
    return (h, out) if return_sequence else h


class ConvTextEncoder(nn.Module):
  """A cheaper alternative: token embedding, 1-D convolutions, max over each sequence's steps."""
  vocab_size: int
  embed_dim: int
  features: Sequence[int]
  kernel: int = 5

  @nn.compact
  def __call__(self, ids_BxT: jnp.ndarray) -> jnp.ndarray:
    valid_BxTx1 = (ids_BxT != PAD)[..., None]
    # Zeroed padding is exactly the convs' own SAME padding, so more of it changes nothing.
    h = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(ids_BxT) * valid_BxTx1
    for f in self.features:
      h = nn.relu(nn.Conv(f, (self.kernel,), padding="SAME")(h)) * valid_BxTx1
    return jnp.max(jnp.where(valid_BxTx1, h, -jnp.inf), axis=1)


class TokenHead(nn.Module):
  """Per-step logits over the vocabulary (the language model's output layer)."""
  vocab_size: int

  @nn.compact
  def __call__(self, h_BxTxF: jnp.ndarray) -> jnp.ndarray:
    return nn.Dense(self.vocab_size, name="logits")(h_BxTxF)


class SequenceDecoder(nn.Module):
  """The sequence autoencoder's decoder (Dai & Le 2015): an RNN started from the code and fed
  the previous true token (teacher forcing), giving next-token logits at every step."""
  vocab_size: int
  embed_dim: int
  hidden: int
  cell: str = "lstm"

  @nn.compact
  def __call__(self, z_BxD: jnp.ndarray, ids_in_BxT: jnp.ndarray) -> jnp.ndarray:
    start = jnp.tanh(nn.Dense(self.hidden, name="start_h")(z_BxD))
    carry = (nn.Dense(self.hidden, name="start_c")(z_BxD), start) if self.cell == "lstm" else start
    x = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(ids_in_BxT)
    out = nn.RNN(_cell(self.cell, self.hidden, "cell"), name="rnn")(
        x, initial_carry=carry, seq_lengths=lengths(ids_in_BxT))
    return TokenHead(self.vocab_size, name="head")(out)
