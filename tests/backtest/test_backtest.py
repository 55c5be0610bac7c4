"""``flowboard backtest`` on the bundled recording: the five strategies with their controls, the
report's contents, byte-identical figures on a second run, a sweep in order on several
processes, and clear refusals of bad parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from app import replay_args
from backtest import cli
from backtest.report import figures_of
from strategies.base import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "recordings" / "sim-night.rec.gz"
FIVE = "sharp_line,momentum,ev_multi,mean_reversion,correlation"
TEST = "tests.backtest.strategy"


def backtest(out: Path, *args: str) -> dict[str, Any]:
    assert cli.main([str(RECORDING), "--report", str(out), *args]) == 0
    report: dict[str, Any] = orjson.loads((out / "report.json").read_bytes())
    return report


def test_two_backtests_of_the_bundled_recording_give_the_same_report(tmp_path: Path) -> None:
    a = backtest(tmp_path / "a", "--strategies", FIVE)
    b = backtest(tmp_path / "b", "--strategies", FIVE)
    assert figures_of(a) == figures_of(b)
    ja = orjson.dumps(figures_of(a), option=orjson.OPT_SORT_KEYS)
    assert ja == orjson.dumps(figures_of(b), option=orjson.OPT_SORT_KEYS)
    assert set(a["run"]) >= {"tool", "version", "seconds", "started_utc"}
    (run,) = a["runs"]
    rec = run["recording"]
    assert rec["games"] == 15 and rec["skipped_lines"] == 0 and rec["bad_frames"] == 0
    assert rec["markets_settled"] > 0 and run["listener_errors"] == 0
    assert sorted(run["strategies"]) == sorted(FIVE.split(","))
    traded = 0
    for name, fig in run["strategies"].items():
        assert fig["errors"] == 0, name
        assert set(run["params"][name]) == {
            f
            for f in REGISTRY[name].Config.__dataclass_fields__  # type: ignore[attr-defined]
        }
        for role in ("strategy", "reverse", "random"):
            acct = fig[role]
            assert {"pnl", "metrics", "ci", "equity", "drawdown", "trades", "clv"} <= set(acct)
        orders = fig["strategy"]["orders"]
        traded += orders > 0
        # every accepted order has its reverse; the random one unless no market was usable
        assert fig["reverse"]["orders"] == orders
        assert fig["random"]["orders"] + fig["controls_not_placed"].get("random", 0) == orders
        if fig["strategy"]["ci"]["games"] >= 2:
            ci = fig["strategy"]["ci"]["total_bootstrap"]
            assert ci["low"] <= fig["strategy"]["pnl"] <= ci["high"]
        for t in fig["strategy"]["trades"]:
            assert t["signal"], t  # every order says why
    assert traded >= 2
    html = (tmp_path / "a" / "report.html").read_text()
    assert "<script" not in html and "http" not in html.split("</style>")[1]  # offline
    assert html.count('data-chart="equity"') == 5


def test_a_sweep_runs_each_value_on_its_own_process_in_order(tmp_path: Path) -> None:
    edges = ["20000", "60000", "100000"]
    one = backtest(tmp_path / "one", "--strategies", "test_fair_edge", "--import", TEST,
                   "--param", "test_fair_edge.edge_ppm=60000")  # fmt: skip
    swept = backtest(tmp_path / "sweep", "--strategies", "test_fair_edge", "--import", TEST,
                     "--sweep", f"test_fair_edge.edge_ppm={','.join(edges)}",
                     "--processes", "3")  # fmt: skip
    runs = swept["runs"]
    assert [r["label"] for r in runs] == [f"test_fair_edge.edge_ppm={e}" for e in edges]
    assert [r["params"]["test_fair_edge"]["edge_ppm"] for r in runs] == [int(e) for e in edges]
    assert swept["run"]["processes"] == 3
    # the middle run is the single run of the same parameters, figure for figure
    middle = dict(runs[1], label="")
    assert middle == one["runs"][0]
    orders = [r["strategies"]["test_fair_edge"]["strategy"]["orders"] for r in runs]
    assert orders[0] >= orders[1] >= orders[2]  # a wider edge asks for fewer trades
    fig = runs[0]["strategies"]["test_fair_edge"]["strategy"]
    assert fig["brier"] is not None and fig["calibration"]  # it states probabilities
    html = (tmp_path / "sweep" / "report.html").read_text()
    assert html.count('data-run="') == 3


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--strategies", "nope"], "unknown strategy nope"),
        (["--strategies", "momentum", "--param", "momentum.nope=1"], "momentum.nope: no such"),
        (["--strategies", "momentum", "--param", "sharp_line.x=1"], "not among --strategies"),
        (["--strategies", "momentum", "--param", "momentum=1"], "expected NAME.KEY=VALUE"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    assert cli.main([str(RECORDING), "--report", str(tmp_path), *args]) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_a_bad_value_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--strategies", "test_fair_edge", "--import", TEST,
            "--param", "test_fair_edge.edge_ppm=lots"]  # fmt: skip
    assert cli.main([str(RECORDING), "--report", str(tmp_path), *args]) == 2
    assert "test_fair_edge.edge_ppm: 'lots' is not a int" in capsys.readouterr().err
    args[-1] = "test_fair_edge.edge_ppm=-5"
    assert cli.main([str(RECORDING), "--report", str(tmp_path), *args]) == 2
    assert "edge_ppm must be" in capsys.readouterr().err


def test_replay_maps_onto_the_apps_own_settings(tmp_path: Path) -> None:
    fresh = tmp_path / "r.db"
    assert replay_args(["night.rec", "--speed", "10"], fresh) == [
        "--source", "replay", "--replay", "night.rec", "--replay-speed", "10", "--db", str(fresh),
    ]  # fmt: skip
    assert replay_args(["night.rec", "--db", "x.db", "--port", "0"], fresh) == [
        "--source", "replay", "--replay", "night.rec", "--db", "x.db", "--port", "0",
    ]  # fmt: skip
