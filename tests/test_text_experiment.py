"""The text pretrain-then-fine-tune experiment on the real tweets: files, resume, init_from, bad input."""

import json
import os
import shutil

import pytest

from conftest import cell_accuracies, run_script
from jaxunsup import pretrain
from jaxunsup.recipes import text_pretrain_finetune
from jaxunsup.configs.text_pretrain_finetune import get_config
from jaxunsup.text import tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "text_pretrain_finetune.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "text_pretrain_finetune.py")


def _run(*args):
  return run_script(SCRIPT, f"--config={CONFIG}:smoke", *args)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("text") / "smoke"
  return workdir, text_pretrain_finetune.train_and_evaluate(get_config("smoke"), str(workdir))


def test_smoke_sweep_writes_the_contract(smoke):
  workdir, summary = smoke
  config = get_config("smoke")
  assert len(summary["cells"]) == 3 * 3 * 1
  for cell in summary["cells"]:
    assert cell["seeds"] == 2 and cell["labelled_examples"] == 3 * 4 and 0 <= cell["accuracy_mean"] <= 1
  with open(workdir / "summary.json") as f:
    assert json.load(f) == summary
  for name in ("label_sweep.md", "label_sweep.png", "config.json", "tokenizer.json"):
    assert os.path.getsize(workdir / name) > 0
  examples = (workdir / "examples.md").read_text()
  assert "greedy reconstruction" in examples and examples.count("## Nearest neighbours") == 2
  tok = tokenizer.load(str(workdir))
  assert tok.vocab_size == config.tokenizer.vocab_size and summary["tokenizer"]["fingerprint"] == tok.fingerprint()
  assert summary["tokenizer"]["test"]["examples"] == 7449
  for objective in ("seq_autoencoder", "language_model"):
    phase_dir = workdir / "pretrain" / objective
    assert sorted(os.listdir(phase_dir / "checkpoints")) == ["10", "20"]
    assert tokenizer.load(str(phase_dir)) == tok
    phase, encoder, params = pretrain.load_encoder(str(phase_dir), "text_pretrain")
    ids = tok.encode(["a car that drives itself"])["ids"]
    assert encoder.apply({"params": params}, ids).shape == (1, config.model.hidden)
    assert phase.tokenizer.fingerprint == tok.fingerprint()


def test_a_killed_sweep_resumes_to_the_same_results(smoke, tmp_path):
  workdir, summary = smoke
  part = tmp_path / "part"
  shutil.copytree(workdir, part)
  os.remove(part / "summary.json")
  # the language model killed after its first checkpoint, before two of its cells ran
  shutil.rmtree(part / "pretrain" / "language_model" / "checkpoints" / "20")
  for cell in ("language_model_linear_probe_4pc_seed1", "language_model_finetune_4pc_seed0"):
    shutil.rmtree(part / "finetune" / cell)
  resumed = text_pretrain_finetune.train_and_evaluate(get_config("smoke"), str(part))
  assert cell_accuracies(resumed) == cell_accuracies(summary)


def test_init_from_fine_tunes_a_pretrained_encoder_alone(smoke, tmp_path):
  workdir, summary = smoke
  config = get_config("smoke")
  config.finetune.init_from = str(workdir / "pretrain" / "seq_autoencoder")
  alone = text_pretrain_finetune.train_and_evaluate(config, str(tmp_path / "alone"))
  assert {c["objective"] for c in alone["cells"]} == {"seq_autoencoder"}
  assert cell_accuracies(alone).items() <= cell_accuracies(summary).items()


@pytest.mark.parametrize("args,message", [
    (("--config.pretrain.objectives=('none','bert')",), "unknown pretraining objective"),
    (("--config.model.bidirectional=True",), "needs a one-way recurrent encoder"),
    (("--config.model.encoder=transformer",), "unknown model.encoder"),
    (("--config.data.name=mnist",), "is an image dataset"),
    (("--config.finetune.labels_per_class=(6000,)",), "has only"),
    (("--config.tokenizer.max_len=2",), "max_len must be at least 3"),
    (("--config.finetune.init_from=/nonexistent/run",), "no config.json"),
    (("--config.finetune.evaluations=('m2',)",), "the text sweep has no m2"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  workdir = tmp_path / "w"
  result = _run(f"--workdir={workdir}", *args)
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
  assert not os.path.exists(workdir)


def test_another_tokenizer_is_refused(smoke, tmp_path):
  workdir, _ = smoke
  phase = workdir / "pretrain" / "language_model"
  other = _run(f"--workdir={tmp_path / 'a'}", f"--config.finetune.init_from={phase}",
               "--config.tokenizer.vocab_size=400")
  assert other.returncode == 2 and "another encoder or tokenizer" in other.stderr
  # a workdir whose saved tokenizer no longer matches what the data builds
  copy = tmp_path / "copy"
  shutil.copytree(workdir, copy)
  tok = tokenizer.load(str(copy))
  tokenizer.Tokenizer(tok.vocab[:-1] + ("zzzz",), tok.max_len).save(str(copy))
  before = (copy / "summary.json").read_bytes()
  stale = _run(f"--workdir={copy}")
  assert stale.returncode == 2 and "does not match" in stale.stderr
  assert (copy / "summary.json").read_bytes() == before
  assert not os.path.exists(tmp_path / "a")
