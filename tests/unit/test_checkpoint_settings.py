"""CRM_CHECKPOINT_MAX_DELAY_SECONDS, and the variable it replaced."""

from __future__ import annotations

import pytest

from service.settings import Settings, SettingsError


def delay(**env: str) -> float:
    return Settings.from_env({"CRM_DATA_DIR": "/nonexistent", **env}).checkpoint_max_delay_seconds


def test_every_entry_is_covered_within_ten_seconds_by_default() -> None:
    assert delay() == 10.0


def test_the_delay_is_configurable() -> None:
    assert delay(CRM_CHECKPOINT_MAX_DELAY_SECONDS="2.5") == 2.5


def test_the_former_variable_still_sets_the_delay() -> None:
    assert delay(CRM_CHECKPOINT_EVERY_SECONDS="60") == 60.0


def test_setting_both_names_is_refused() -> None:
    with pytest.raises(SettingsError, match="CRM_CHECKPOINT_MAX_DELAY_SECONDS"):
        delay(CRM_CHECKPOINT_EVERY_SECONDS="60", CRM_CHECKPOINT_MAX_DELAY_SECONDS="5")


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_delay_that_is_not_a_positive_number_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="CRM_CHECKPOINT_MAX_DELAY_SECONDS"):
        delay(CRM_CHECKPOINT_MAX_DELAY_SECONDS=value)
