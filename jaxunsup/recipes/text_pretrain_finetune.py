"""Text: unsupervised pretraining of a text encoder, then a label sweep of sentiment classifiers.

`train_and_evaluate(config, workdir)` is what experiments/text_pretrain_finetune.py runs. It
shares the image sweep's machinery (jaxunsup/sweep.py): the same cells, budgets,
balanced subsets, resume rules, summary and figures. Layout of a workdir:
  tokenizer.json             built from the train split; refused if it no longer matches
  pretrain/OBJECTIVE/        one loop workdir per pretraining objective, with its tokenizer.json
  finetune/CELL/             one loop workdir per trained cell, result.json in every cell
  summary.json, label_sweep.md, label_sweep.png
  examples.md                the sequence autoencoder's reconstructions of test sentences, and the
                             nearest test sentences of a few queries in each pretrained encoder
"""

import os
import time

import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import configs, finetune, models, pretrain, sweep
from jaxunsup.configs import text_pretrain_finetune as text_configs
from jaxunsup.errors import UsageError
from jaxunsup.objectives import registry
from jaxunsup.text import probes
from jaxunsup.text import tokenizer as tokenizer_lib
from jaxunsup.train import files, workdir as workdir_lib


FAMILY = "text_pretrain"


def _check_choices(config: ml_collections.ConfigDict) -> None:
  configs.check_values(config, text_configs)
  data_lib.text_spec(config.data.name)
  data_lib.require_labels(config.data.name, "the label sweep")
  models.check_text_encoder(config.model)
  for objective in config.pretrain.objectives:
    pretrain.check_objective(objective, FAMILY)
    if objective != pretrain.NONE:  # the objective's own demands on the encoder
      registry.get(FAMILY, objective).check(ml_collections.ConfigDict({"objective": objective, "model": config.model}))
  sweep.check_sweep_lists(config)


def encoder_description(config: ml_collections.ConfigDict) -> dict:
  """What a pretrained encoder must share with a fine-tune config: model and tokenizer."""
  m = config.model
  fields = ("encoder", "embed_dim") + (("features", "kernel") if m.encoder == "conv"
                                       else ("cell", "hidden", "bidirectional"))
  return {**{k: list(m[k]) if k == "features" else m[k] for k in fields},
          "tokenizer": config.tokenizer.fingerprint}


def _tokenizer(config: ml_collections.ConfigDict, texts: list, workdir: str) -> tokenizer_lib.Tokenizer:
  """Builds the tokenizer from the training texts; a workdir's saved one must be the same."""
  tok = tokenizer_lib.Tokenizer.build(texts, config.tokenizer.vocab_size, config.tokenizer.max_len)
  if os.path.exists(os.path.join(workdir, tokenizer_lib.FILE)):
    saved = tokenizer_lib.load(workdir)
    if saved != tok:
      raise UsageError(f"the tokenizer saved in {workdir} (fingerprint {saved.fingerprint()}) does not"
                       f" match the one this config and data build ({tok.fingerprint()}); use a new"
                       " --workdir")
  return tok


def _init_from_encoder(config: ml_collections.ConfigDict, tok: tokenizer_lib.Tokenizer) -> tuple:
  """(objective, params) of `finetune.init_from`, checked against this config's model and tokenizer."""
  path = config.finetune.init_from
  phase = pretrain.read_phase_config(path, FAMILY)
  here = ml_collections.ConfigDict({"model": config.model, "tokenizer": {"fingerprint": tok.fingerprint()}})
  wanted, found = encoder_description(here), encoder_description(phase)
  if wanted != found:
    diffs = ", ".join(f"{k} {found.get(k)} there, {wanted[k]} here" for k in wanted if wanted[k] != found.get(k))
    raise UsageError(f"init_from {path} was pretrained with another encoder or tokenizer ({diffs})")
  _, _, params = pretrain.load_encoder(path, FAMILY)
  return phase.objective, params


def _encode(tok: tokenizer_lib.Tokenizer, split: dict) -> tuple:
  out = tok.encode(split["text"])
  stats = {"examples": len(split["text"]), "truncated": out["truncated"],
           "unknown_word_rate": round(out["unknown"], 4)}
  return {"ids": out["ids"], "label": split["label"]}, stats


def _one_line(text: str) -> str:
  return " ".join(text.split()).replace("|", "\\|")


def examples_markdown(tok, test_texts: list, test_labels, class_names, encoders: dict,
                      seq_autoencoder=None, count: int = 8, k: int = 3) -> str:
  """examples.md: reconstructions by the sequence autoencoder (its state, if pretrained) of the
  first `count` test texts, and the `k` nearest test texts of one query per class under each of
  `encoders` ({objective: (module, params)})."""
  lines = ["# What the pretrained encoders learnt (test split)", ""]
  if seq_autoencoder is not None:
    lines += ["## Sequence autoencoder: greedy reconstruction from the code", "",
              "| text | reconstruction |", "|---|---|"]
    shown = test_texts[:count]
    lines += [f"| {_one_line(t)} | {_one_line(r)} |"
              for t, r in zip(shown, probes.reconstruct(seq_autoencoder, tok, shown))]
    lines.append("")
  queries = [int(np.flatnonzero(test_labels == c)[0]) for c in range(len(class_names))]
  ids = tok.encode(test_texts)["ids"]
  for objective, (encoder, params) in encoders.items():
    features = finetune.in_chunks(encoder.apply, params, ids)
    lines += [f"## Nearest neighbours, {objective} encoder (cosine, {len(test_texts)} test texts)", ""]
    for q, neighbours in probes.nearest_neighbours(features, queries, k).items():
      lines.append(f"- **{_one_line(test_texts[q])}** ({class_names[test_labels[q]]})")
      lines += [f"  - {_one_line(test_texts[n])} ({class_names[test_labels[n]]})" for n in neighbours]
    lines.append("")
  return "\n".join(lines)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Pretrains every objective, runs the label sweep, writes summary.json and figures."""
  _check_choices(config)
  name = config.data.name
  spec = data_lib.text_spec(name)
  data_lib.prepare(name, source_dir=config.data.source_dir or None)
  raw = {split: data_lib.load(name, split) for split in spec.splits}
  tok = _tokenizer(config, raw["train"]["text"], workdir)
  init = _init_from_encoder(config, tok) if config.finetune.init_from else None
  train, train_stats = _encode(tok, raw["train"])
  test, test_stats = _encode(tok, raw["test"])
  subsets = sweep.label_subsets(config, train["label"])  # refuses too many labels early
  with files.workdir_lock(workdir):
    workdir_lib.start(config, workdir, defaults=text_configs.base())
    tok.save(workdir)

    # Pretraining reads every training text without its label, and the unlabelled split if any.
    unlabelled = train["ids"]
    if spec.unlabelled_split:
      unlabelled = np.concatenate([unlabelled, _encode(tok, raw[spec.unlabelled_split])[0]["ids"]])
    t0 = time.perf_counter()
    input_spec = data_lib.text_input_spec(name, tok.max_len, tok.vocab_size)
    eval_ids = test["ids"][:config.pretrain.eval_examples]
    results, pretrain_info, pretrained, params = sweep.pretrain_and_run(
        config, workdir, FAMILY, input_spec, train, test, unlabelled, eval_ids, subsets, init,
        before_phase=tok.save, tokenizer=tok)
    encoder = models.build_encoder(config.model, input_spec)
    encoders = {objective: (encoder, p) for objective, p in params.items()}
    seq_ae = pretrained["seq_autoencoder"][1] if "seq_autoencoder" in pretrained else None

    files.write_text(os.path.join(workdir, "examples.md"),
                     examples_markdown(tok, raw["test"]["text"], test["label"], spec.class_names, encoders, seq_ae))
    stats = {"vocab_size": tok.vocab_size, "max_len": tok.max_len, "fingerprint": tok.fingerprint(),
             "train": train_stats, "test": test_stats}
    return sweep.write_sweep(config, workdir, results, subsets, spec.num_classes, len(train["label"]),
                             pretrain_info, t0, tokenizer=stats)
