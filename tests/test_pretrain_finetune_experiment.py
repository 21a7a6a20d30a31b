"""The pretrain-then-fine-tune experiment on real MNIST: files, summary, resume, init_from, bad input."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import cell_accuracies, run_script
from jaxunsup.recipes import autoencoder, pretrain_finetune
from jaxunsup.configs.pretrain_finetune import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "pretrain_finetune.py")
CONFIG = os.path.join(ROOT, "experiments", "configs", "pretrain_finetune.py")


def _run(*args):
  return run_script(SCRIPT, f"--config={CONFIG}:smoke", *args)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("pf") / "smoke"
  return workdir, pretrain_finetune.train_and_evaluate(get_config("smoke"), str(workdir))


def test_smoke_sweep_writes_the_contract(smoke):
  workdir, summary = smoke
  config = get_config("smoke")
  objectives, evaluations = config.pretrain.objectives, config.finetune.evaluations
  assert len(summary["cells"]) == len(objectives) * len(evaluations) * len(config.finetune.labels_per_class)
  for cell in summary["cells"]:
    assert cell["seeds"] == len(config.finetune.seeds) and 0 <= cell["accuracy_mean"] <= 1
    assert cell["labelled_examples"] == 10 * cell["labels_per_class"]
  with open(workdir / "summary.json") as f:
    assert json.load(f) == summary
  for name in ("label_sweep.md", "label_sweep.png", "config.json"):
    assert os.path.getsize(workdir / name) > 0
  assert set(summary["pretrain"]) == set(objectives) - {"none"}
  for objective in summary["pretrain"]:
    assert sorted(os.listdir(workdir / "pretrain" / objective / "checkpoints")) == ["10", "20"]
  # the autoencoder phase is a workdir of the autoencoder family
  ae = autoencoder.load(str(workdir / "pretrain" / "autoencoder"))
  assert ae.encode(np.zeros((2, 28, 28, 1), np.uint8)).shape == (2, config.model.rep_dim)


@pytest.mark.parametrize("pipeline", ["device", "stream"])
def test_a_killed_sweep_resumes_to_the_same_results(smoke, tmp_path, pipeline):
  """Resumed on the device, or streaming the train split: pretraining streams its images and each
  cell reads its labelled examples from disk, and both reach the uninterrupted results."""
  workdir, summary = smoke
  part = tmp_path / "part"
  shutil.copytree(workdir, part)
  os.remove(part / "summary.json")
  # SimCLR's pretraining killed after its first checkpoint, before two of its cells ran
  shutil.rmtree(part / "pretrain" / "simclr" / "checkpoints" / "20")
  for cell in ("simclr_linear_probe_3pc_seed1", "simclr_finetune_3pc_seed0"):
    shutil.rmtree(part / "finetune" / cell)
  config = get_config("smoke")
  config.data.pipeline = pipeline
  resumed = pretrain_finetune.train_and_evaluate(config, str(part))
  assert cell_accuracies(resumed) == cell_accuracies(summary)


def test_init_from_fine_tunes_a_pretrained_encoder_alone(smoke, tmp_path):
  workdir, summary = smoke
  config = get_config("smoke")
  config.finetune.init_from = str(workdir / "pretrain" / "simclr")
  alone = pretrain_finetune.train_and_evaluate(config, str(tmp_path / "alone"))
  assert {c["objective"] for c in alone["cells"]} == {"simclr"}
  assert cell_accuracies(alone).items() <= cell_accuracies(summary).items()
  assert not os.path.exists(tmp_path / "alone" / "pretrain")


@pytest.mark.parametrize("args,message", [
    (("--config.pretrain.objectives=('none','mae')",), "unknown pretraining objective"),
    (("--config.finetune.evaluations=('svm',)",), "unknown evaluation"),
    (("--config.finetune.labels_per_class=(7000,)",), "has only"),
    (("--config.finetune.init_from=/nonexistent/run",), "no config.json"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
  workdir = tmp_path / "w"
  result = _run(f"--workdir={workdir}", *args)
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
  assert not os.path.exists(workdir)


def test_init_from_another_architecture_or_without_checkpoint_is_refused(smoke, tmp_path):
  workdir, _ = smoke
  other = _run(f"--workdir={tmp_path / 'a'}", f"--config.finetune.init_from={workdir / 'pretrain' / 'simclr'}",
               "--config.model.rep_dim=24")
  assert other.returncode == 2 and "another encoder" in other.stderr and "rep_dim" in other.stderr
  empty = tmp_path / "empty"
  empty.mkdir()
  shutil.copy(workdir / "pretrain" / "simclr" / "config.json", empty / "config.json")
  missing = _run(f"--workdir={tmp_path / 'b'}", f"--config.finetune.init_from={empty}")
  assert missing.returncode == 2 and "no checkpoint" in missing.stderr
  assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_cifar10_takes_the_same_code_path(fake_cifar10, tmp_path, monkeypatch):
  # Real CIFAR-10 needs a download; the synthetic one proves 32x32 colour images flow through
  # pretraining (a 3-channel decoder, colour views) and the sweep.
  data_dir, _ = fake_cifar10
  monkeypatch.setenv("JAXUNSUP_DATA_DIR", data_dir)
  config = get_config("smoke")
  config.data.name = "cifar10"
  config.pretrain.objectives = ("autoencoder", "simclr")
  config.finetune.evaluations = ("linear_probe",)
  config.finetune.seeds = (0,)
  summary = pretrain_finetune.train_and_evaluate(config, str(tmp_path / "cifar"))
  assert len(summary["cells"]) == 2
  ae = autoencoder.load(str(tmp_path / "cifar" / "pretrain" / "autoencoder"))
  assert ae.reconstruct(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 32, 32, 3)
  assert os.path.getsize(tmp_path / "cifar" / "label_sweep.png") > 0
