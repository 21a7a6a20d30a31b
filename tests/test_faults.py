"""The fault campaign's smoke variant: killed three times (in a checkpoint save, a metrics row, a
rename or at a random moment), the autoencoder command resumes to the uninterrupted summary."""

import pytest

from jaxunsup.configs.faults import get_config
from jaxunsup.errors import UsageError
from jaxunsup.recipes import faults


def test_killed_runs_resume_to_the_uninterrupted_summary(tmp_path):
  summary = faults.run_campaign(get_config("smoke"), str(tmp_path), progress=lambda line: None)
  (row,) = summary["kills"]
  assert row["errors"] == [] and row["identical"] == row["trials"] == 1
  assert row["kills"] >= 2 and row["resumed_runs"] >= 1
  assert row["files_lost"] == row["files_damaged"] == row["temporaries_left"] == 0
  assert "| autoencoder | 1 |" in (tmp_path / "faults.md").read_text()


def test_campaign_configs_are_checked():
  config = get_config()
  config.families = ("representations", "autoencoder")
  config.trials = (1, 1)
  with pytest.raises(UsageError, match="put autoencoder before it"):
    faults.check(config)
  with pytest.raises(UsageError, match="unknown fault site"):
    faults._arm("disk", 1, 0.0)  # pylint: disable=protected-access
