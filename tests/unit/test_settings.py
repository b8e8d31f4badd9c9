"""Environment settings: each malformed value is a ConfigError naming the variable."""

from __future__ import annotations

import pytest

from core import settings
from core.errors import ConfigError


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "abc", "-1", "0", "1e999", " "])
def test_a_duration_must_be_a_positive_finite_number(value: str) -> None:
    env = {"STRATA_SCRIPT_TIMEOUT": value}
    if not value.strip():  # blank: as if unset
        assert settings.value(settings.SCRIPT_TIMEOUT, env) == 300.0
        return
    with pytest.raises(ConfigError) as caught:
        settings.check_environment(env)
    assert f"STRATA_SCRIPT_TIMEOUT={value!r} is not a positive number of seconds" in str(
        caught.value
    )
    assert caught.value.hint and "unset it (default 300)" in caught.value.hint


def test_good_values_and_defaults() -> None:
    env = {"STRATA_SCRIPT_TIMEOUT": "2.5", "STRATA_FETCH_DEADLINE": "60", "SOURCE_DATE_EPOCH": "7"}
    settings.check_environment(env)
    assert settings.value(settings.SCRIPT_TIMEOUT, env) == 2.5
    assert settings.value(settings.FETCH_DEADLINE, {}) == 1800.0
    assert settings.value(settings.SOURCE_DATE_EPOCH, env) == 7
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='-5'"):
        settings.check_environment({"SOURCE_DATE_EPOCH": "-5"})
