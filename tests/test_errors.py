from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import config
import errors
from ingest import recording
from kalshi import auth, endpoints, rest, rest_wire, wire
from nba import errors as nba_errors

ROOT = Path(__file__).parent.parent
PACKAGES = ("infra", "ingest", "kalshi", "nba", "sim", "storage", "strategies", "stream", "web")


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (config.ConfigError, errors.ConfigError),
        (endpoints.KalshiEnvError, errors.ConfigError),
        (auth.KeyLoadError, errors.ConfigError),
        (recording.RecordingError, errors.ConfigError),
        (rest.KalshiError, errors.UpstreamError),
        (rest.KalshiAuthError, errors.UpstreamError),
        (rest.KalshiHTTPError, errors.UpstreamError),
        (rest.KalshiRateLimited, errors.UpstreamError),
        (nba_errors.NbaError, errors.UpstreamError),
        (nba_errors.NbaAuthError, errors.UpstreamError),
        (nba_errors.NbaHttpError, errors.UpstreamError),
        (nba_errors.NbaRateLimited, errors.UpstreamError),
        (nba_errors.NbaWireError, errors.WireError),
        (nba_errors.NbaWireError, nba_errors.NbaError),
    ],
)
def test_each_error_has_its_place(cls: type[Exception], base: type[Exception]) -> None:
    assert issubclass(cls, base)
    assert issubclass(cls, errors.FlowboardError)


def test_one_wire_error_and_one_config_error() -> None:
    assert wire.WireError is errors.WireError
    assert rest_wire.WireError is errors.WireError
    assert config.ConfigError is errors.ConfigError


def test_the_kinds_do_not_overlap() -> None:
    kinds = (errors.ConfigError, errors.UpstreamError, errors.WireError)
    for a in kinds:
        for b in kinds:
            assert a is b or not issubclass(a, b)


def test_older_value_error_handlers_still_catch_bad_values() -> None:
    for cls in (errors.ConfigError, errors.WireError, recording.RecordingError, auth.KeyLoadError):
        assert issubclass(cls, ValueError)
    with pytest.raises(ValueError, match="unknown kalshi env"):
        endpoints.resolve_endpoints("staging")
    with pytest.raises(ValueError, match="not JSON"):
        rest_wire.parse_trades_page(b"{", 0)


def test_a_bad_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="cannot read private key file"):
        auth.load_private_key_file(tmp_path / "missing.pem")
    with pytest.raises(errors.ConfigError, match="not a usable PEM private key"):
        auth.load_private_key(b"garbage")


def _project_modules() -> list[str]:
    names = [p.stem for p in ROOT.glob("*.py")]
    for package in PACKAGES:
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages([str(ROOT / package)], f"{package}.")]
    return sorted(names)


def test_no_two_error_classes_share_a_name() -> None:
    """One name, one class: an exception's name says which one it is, and no data class wears
    an exception's name."""
    errors_by_name: dict[str, list[str]] = {}
    others: set[str] = set()
    for name in _project_modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if issubclass(cls, BaseException):
                errors_by_name.setdefault(cls_name, []).append(f"{name}.{cls_name}")
            else:
                others.add(cls_name)
    assert errors_by_name, "no modules walked"
    assert {n: where for n, where in errors_by_name.items() if len(where) > 1} == {}
    assert set(errors_by_name) & others == set()
