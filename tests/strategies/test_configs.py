"""The five registered, each with a frozen config whose defaults validate; changes from JSON are
checked field by field."""

from __future__ import annotations

import dataclasses

import pytest

import strategies
from strategies.common import FieldError, config_json, replaced
from strategies.momentum import MomentumConfig

NAMES = {"sharp_line", "momentum", "ev_multi", "mean_reversion", "correlation"}


def test_all_five_are_registered_with_valid_frozen_defaults() -> None:
    assert set(strategies.REGISTRY) == NAMES
    for name, cls in strategies.REGISTRY.items():
        config = cls.Config()
        config.validate()
        s = cls(config)
        assert s.name == name and s.kinds and s.status
        first = dataclasses.fields(config)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(config, first, getattr(config, first))


def test_changes_are_typed_and_validated_naming_the_field() -> None:
    base = MomentumConfig()
    new = replaced(base, {"min_move_cc": 500, "ticker_prefix": "KXNBAGAME"})
    assert (new.min_move_cc, new.ticker_prefix) == (500, "KXNBAGAME")
    assert config_json(new)["min_move_cc"] == 500
    for changes, field in (
        ({"nope": 1}, "nope"),
        ({"min_move_cc": "5"}, "min_move_cc"),
        ({"min_move_cc": True}, "min_move_cc"),
        ({"min_move_cc": 1.5}, "min_move_cc"),
        ({"min_move_cc": 0}, "min_move_cc"),
        ({"min_flow_ppm": 2_000_000}, "min_flow_ppm"),
        ({"count": 150}, "count"),
    ):
        with pytest.raises(FieldError) as err:
            replaced(base, changes)
        assert err.value.field == field
    z = replaced(strategies.REGISTRY["mean_reversion"].Config(), {"entry_z": 3})
    assert z.entry_z == 3.0 and type(z.entry_z) is float
    with pytest.raises(FieldError, match="exit_z"):
        replaced(z, {"exit_z": 3.5})
