from __future__ import annotations

import pytest

from config import ConfigError, Settings, load


def test_flags_override_environment() -> None:
    s = load(
        {"FLOWBOARD_PORT": "9000", "KALSHI_ENV": "demo"}, ["--port", "9100", "--sim-rate", "5"]
    )
    assert s.port == 9100
    assert s.kalshi_env == "demo"
    assert s.sim_rate == 5.0
    assert s.source == "sim"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="port"):
        load({"FLOWBOARD_PORT": "eighty"}, [])


def test_live_without_keys_says_what_to_set() -> None:
    s = Settings(source="live", kalshi_key_id="abc")
    with pytest.raises(ConfigError, match="KALSHI_PRIVATE_KEY_PATH"):
        s.check_live()


def test_secret_not_in_repr() -> None:
    s = Settings(balldontlie_key="sekrit-123")
    assert "sekrit" not in repr(s)


def test_replay_needs_a_file() -> None:
    with pytest.raises(ConfigError, match="--replay"):
        Settings(source="replay")
