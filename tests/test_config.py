from __future__ import annotations

import argparse
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import errors
from config import ENV_VARS, SETTINGS, ConfigError, Setting, Settings, load, parser

README = Path(__file__).parent.parent / "README.md"

FLAGGED = [s for s in SETTINGS if s.flag]
WITH_ENV = [s for s in SETTINGS if s.env]
NUMBERS = [s for s in SETTINGS if s.kind in (int, float)]


def _ids(s: Setting) -> str:
    return s.name


def sample(s: Setting) -> tuple[str, Any]:
    """Text for ``s`` that passes validation and differs from the default, and its value."""
    if s.name == "replay_speed":
        return "10", "10"
    if s.name == "host":  # another loopback address: beyond loopback needs a token too
        return "127.0.0.2", "127.0.0.2"
    if s.choices:
        choice = next(c for c in s.choices if c != s.default)
        return choice, choice
    if s.kind is bool:
        return ("false", False) if s.default else ("true", True)
    if s.kind is int and s.default is None:  # an optional limit: off by default
        return "5", 5
    if s.kind is int:
        n = s.default - 1 if s.default > 1 else s.default + 1
        return str(n), n
    if s.kind is float:
        return str(s.default + 0.5), s.default + 0.5
    if s.kind is tuple:
        return "KXA-1, KXB-2", ("KXA-1", "KXB-2")
    return f"other-{s.name}", f"other-{s.name}"


def flag_argv(s: Setting, text: str, value: Any) -> list[str]:
    assert s.flag
    if s.kind is bool:
        return [s.flag] if value else ["--no-" + s.flag.removeprefix("--")]
    return [s.flag, text]


# ---- the declarations, the dataclass and the parser agree ---------------------------------------


def test_every_field_is_one_declaration_in_order() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in fields(Settings)]
    defaults = Settings()
    hints = typing.get_type_hints(Settings)
    for s in SETTINGS:
        assert getattr(defaults, s.name) == s.default, s.name
        assert s.default is None or isinstance(s.default, s.kind), s.name
        if s.default is None:
            assert type(None) in typing.get_args(hints[s.name]), s.name
        assert s.help, s.name
        assert s.flag or s.env, f"{s.name} cannot be set"


def test_flags_and_variables_are_unique_and_the_env_map_is_derived() -> None:
    flags = [s.flag for s in FLAGGED]
    assert len(flags) == len(set(flags))
    assert {s.env: s.name for s in WITH_ENV} == ENV_VARS
    assert len(ENV_VARS) == len(WITH_ENV)


def test_the_parser_has_exactly_the_declared_flags() -> None:
    actions = [a for a in parser()._actions if not isinstance(a, argparse._HelpAction)]
    by_dest = {a.dest: a for a in actions}
    assert len(by_dest) == len(actions)
    assert set(by_dest) == {s.name for s in FLAGGED}
    for s in FLAGGED:
        assert s.flag in by_dest[s.name].option_strings, s.name
        assert by_dest[s.name].default is None, s.name  # so load() sees which flags were given


def test_defaults_read_back_as_themselves() -> None:
    for s in SETTINGS:
        if s.default is None:
            continue
        text = ",".join(s.default) if s.kind is tuple else str(s.default)
        assert s.parse(text, "test") == s.default, s.name


def test_choices_are_what_validation_accepts() -> None:
    base = Settings(replay_path="r.jsonl")  # so that every source is a whole setup
    for s in SETTINGS:
        for choice in s.choices:
            assert getattr(base.with_(**{s.name: choice}), s.name) == choice
        if s.choices:
            with pytest.raises(ConfigError):
                base.with_(**{s.name: "no-such-choice"})


def test_the_documented_names_still_work() -> None:
    documented_flags = [
        "--source",
        "--db",
        "--host",
        "--port",
        "--sim-rate",
        "--sim-seed",
        "--sim-markets",
        "--retention-days",
        "--book",
        "--kalshi-env",
        "--kalshi-rest-url",
        "--kalshi-ws-url",
        "--record",
        "--replay",
        "--replay-speed",
        "--no-nba",
        "--balldontlie-url",
        "--balldontlie-tier",
        "--sim-games",
        "--sim-game-speed",
        "--sim-tipoff",
        "--sim-game-stagger",
        "--log-level",
    ]
    options = {o for a in parser()._actions for o in a.option_strings}
    assert set(documented_flags) <= options
    documented_env = {
        "FLOWBOARD_SOURCE": "source",
        "FLOWBOARD_DB": "db_path",
        "FLOWBOARD_HOST": "host",
        "FLOWBOARD_PORT": "port",
        "FLOWBOARD_RETENTION_DAYS": "retention_days",
        "FLOWBOARD_SIM_RATE": "sim_rate",
        "FLOWBOARD_SIM_SEED": "sim_seed",
        "KALSHI_ENV": "kalshi_env",
        "KALSHI_REST_URL": "kalshi_rest_url",
        "KALSHI_WS_URL": "kalshi_ws_url",
        "KALSHI_API_KEY_ID": "kalshi_key_id",
        "KALSHI_PRIVATE_KEY_PATH": "kalshi_key_path",
        "BALLDONTLIE_API_KEY": "balldontlie_key",
        "BALLDONTLIE_URL": "balldontlie_url",
        "BALLDONTLIE_TIER": "balldontlie_tier",
        "FLOWBOARD_NBA": "nba",
        "FLOWBOARD_SIM_GAMES": "sim_games",
        "FLOWBOARD_SIM_GAME_SPEED": "sim_game_speed",
        "FLOWBOARD_SIM_TIPOFF": "sim_tipoff_s",
        "FLOWBOARD_SIM_GAME_STAGGER": "sim_game_stagger_s",
    }
    assert documented_env.items() <= ENV_VARS.items()


# ---- every setting is reachable ----------------------------------------------------------------


@pytest.mark.parametrize("s", FLAGGED, ids=_ids)
def test_every_flag_sets_its_setting(s: Setting) -> None:
    text, value = sample(s)
    assert getattr(load({}, flag_argv(s, text, value)), s.name) == value


@pytest.mark.parametrize("s", WITH_ENV, ids=_ids)
def test_every_variable_sets_its_setting(s: Setting) -> None:
    text, value = sample(s)
    assert getattr(load({s.env or "": text}, []), s.name) == value


@pytest.mark.parametrize("s", [s for s in FLAGGED if s.env], ids=_ids)
def test_the_flag_wins_over_the_variable(s: Setting) -> None:
    text, value = sample(s)
    env_text = ",".join(s.default) if s.kind is tuple else str(s.default)
    if s.default is None:
        env_text = "7" if s.kind is int else "from-the-environment"
    loaded = load({s.env or "": env_text}, flag_argv(s, text, value))
    assert getattr(loaded, s.name) == value


def test_an_empty_variable_is_unset() -> None:
    assert load({"FLOWBOARD_PORT": "", "KALSHI_REST_URL": ""}, []) == Settings()


def test_flags_override_environment() -> None:
    s = load(
        {"FLOWBOARD_PORT": "9000", "KALSHI_ENV": "demo"}, ["--port", "9100", "--sim-rate", "5"]
    )
    assert s.port == 9100
    assert s.kalshi_env == "demo"
    assert s.sim_rate == 5.0
    assert s.source == "sim"


def test_books_repeat_or_split_on_commas() -> None:
    s = load({"FLOWBOARD_BOOK": "KXENV"}, ["--book", "KXA", "--book", "KXB,KXC"])
    assert s.book_tickers == ("KXA", "KXB", "KXC")
    assert load({"FLOWBOARD_BOOK": "KXA, ,KXB"}, []).book_tickers == ("KXA", "KXB")


def test_nba_switches_both_ways() -> None:
    assert load({}, ["--no-nba"]).nba is False
    assert load({"FLOWBOARD_NBA": "off"}, ["--nba"]).nba is True
    for word, value in (("1", True), ("Yes", True), ("0", False), ("FALSE", False)):
        assert load({"FLOWBOARD_NBA": word}, []).nba is value


# ---- bad values say which setting ---------------------------------------------------------------


@pytest.mark.parametrize("s", NUMBERS, ids=_ids)
def test_a_number_that_is_not_one_names_the_flag_and_the_variable(s: Setting) -> None:
    assert s.flag and s.env
    with pytest.raises(ConfigError, match=f"^{s.flag}: {s.name} must be a"):
        load({}, [s.flag, "lots"])
    with pytest.raises(ConfigError, match=f"^{s.env}: {s.name} must be a"):
        load({s.env: "lots"}, [])


def test_whole_numbers_and_finite_numbers_only() -> None:
    with pytest.raises(ConfigError, match="port must be a whole number"):
        load({}, ["--port", "80.5"])
    with pytest.raises(ConfigError, match="sim_rate must be a number"):
        load({"FLOWBOARD_SIM_RATE": "nan"}, [])
    with pytest.raises(ConfigError, match="sim_game_speed must be a number"):
        load({}, ["--sim-game-speed", "inf"])


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FLOWBOARD_PORT: port"):
        load({"FLOWBOARD_PORT": "eighty"}, [])
    with pytest.raises(ConfigError, match="FLOWBOARD_NBA: nba must be true or false"):
        load({"FLOWBOARD_NBA": "maybe"}, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "paper"], "source must be one of sim, live, replay"),
        (["--kalshi-env", "staging"], "kalshi env must be prod or demo"),
        (["--balldontlie-tier", "mvp"], "balldontlie tier must be one of"),
        (["--log-level", "LOUD"], "log level must be one of"),
        (["--port", "70000"], "port out of range"),
        (["--sim-rate", "-1"], "sim rate must be >= 0"),
        (["--sim-markets", "0"], "sim markets must be at least 1"),
        (["--retention-days", "0"], "retention must be at least 1 day"),
        (["--sim-games", "16"], "sim games must be 1..15"),
        (["--sim-game-speed", "0"], "sim game speed must be > 0"),
        (["--sim-tipoff", "-1"], "sim tip-off and stagger must be >= 0"),
        (["--replay-speed", "fast"], "replay speed must be a positive number or 'max'"),
        (["--flush-interval-ms", "0"], "flush interval must be >= 1 ms"),
        (["--trade-batch-ms", "0"], "trade batch must be >= 1 ms"),
        (["--client-queue", "0"], "client queue must hold at least 1 message"),
        (["--silence-timeout", "0"], "silence timeout must be > 0 seconds"),
        (["--kalshi-rest-rate", "0"], "kalshi rest rate must be > 0 requests per second"),
        (["--kalshi-rest-burst", "0"], "kalshi rest burst must be at least 1 request"),
        (["--balldontlie-rate", "-2"], "balldontlie rate must be > 0 requests per second"),
        (["--balldontlie-burst", "0"], "balldontlie burst must be at least 1 request"),
        (["--refresh-interval", "-1"], "refresh interval must be >= 0 seconds"),
        (["--feed-stale-after", "30"], "must be longer than the silence timeout"),
        (["--silence-timeout", "90"], "must be longer than the silence timeout"),
        (["--source", "replay"], "--source replay needs a recording: --replay FILE"),
        (["--source", "replay", "--replay", "r.jsonl", "--record", "x"], "not a replay"),
    ],
)
def test_values_that_cannot_work_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load({}, argv)


def test_log_level_is_case_blind() -> None:
    assert load({"FLOWBOARD_LOG_LEVEL": "debug"}, []).log_level == "debug"


def test_config_error_is_the_shared_one() -> None:
    assert ConfigError is errors.ConfigError
    assert issubclass(ConfigError, errors.FlowboardError)
    assert issubclass(ConfigError, ValueError)  # older `except ValueError` sites still catch it


# ---- live keys and secrets ----------------------------------------------------------------------


def test_live_without_keys_says_what_to_set() -> None:
    s = Settings(source="live", kalshi_key_id="abc")
    with pytest.raises(ConfigError, match="KALSHI_PRIVATE_KEY_PATH"):
        s.check_live()


def test_secret_not_in_repr() -> None:
    s = Settings(balldontlie_key="sekrit-123", api_token="sekrit-456")
    assert "sekrit" not in repr(s)
    assert "sekrit" not in repr(s.with_(port=1))


def test_secrets_come_from_the_environment_only() -> None:
    secrets = [s for s in SETTINGS if s.secret]
    assert [s.name for s in secrets] == ["api_token", "balldontlie_key"]
    for s in secrets:
        assert s.flag is None and s.env  # a flag's value shows in every process list
    assert load({"BALLDONTLIE_API_KEY": "k-1"}, []).balldontlie_key == "k-1"
    assert load({"FLOWBOARD_API_TOKEN": "t-1"}, []).api_token == "t-1"


def test_replay_needs_a_file() -> None:
    with pytest.raises(ConfigError, match="--replay"):
        Settings(source="replay")


# ---- the README lists every setting -------------------------------------------------------------


def settings_table() -> str:
    """The README's table of settings, made from the declarations."""
    rows = ["| flag | environment | default | what |", "|---|---|---|---|"]
    for s in SETTINGS:
        if s.flag is None:
            flag = "(none)"
        elif s.kind is bool:
            flag = f"`{s.flag}` / `--no-{s.flag.removeprefix('--')}`"
        else:
            flag = f"`{s.flag} {s.metavar or s.name.upper()}`".replace("|", "\\|")
        env = f"`{s.env}`" if s.env else ""
        if s.default in (None, ()):
            default = ""
        elif isinstance(s.default, bool):
            default = "on" if s.default else "off"
        else:
            default = f"`{s.default}`"
        what = s.help.replace("|", "\\|")
        rows.append(f"| {flag} | {env} | {default} | {what} |")
    return "\n".join(rows) + "\n"


def test_the_readme_lists_every_setting() -> None:
    table = settings_table()
    assert table in README.read_text(encoding="utf-8"), (
        "README.md's Configuration table is out of date; it should read:\n\n" + table
    )
