"""The backtest's report: ``report.json`` (the figures of every run, and a separate ``run``
block of tool version and timing, which comparisons leave out) and ``report.html``, one
self-contained page (inline CSS and SVG charts, no script, nothing fetched) that opens offline.

For each run (a sweep's side by side in the summary table first) and each strategy: the metrics
of the strategy, its reverse control and its random baseline in three columns, with the total
P&L's 95% intervals clustered by game; the equity and drawdown charts of the three; the
calibration chart and table when the strategy states probabilities; closing-line value; the
trades with their signals; the parameter set.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1
ROLES = ("strategy", "reverse", "random")
COLOURS = {"strategy": "#1f6feb", "reverse": "#d1242f", "random": "#8c959f"}
TRADES_SHOWN = 300
W, H, PAD = 560, 180, 36


def figures_of(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without its ``run`` block: what two runs of one backtest share exactly."""
    return {k: v for k, v in report.items() if k != "run"}


def write(out: Path, runs: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = {"report": "flowboard-backtest", "format": FORMAT, "runs": list(runs), "run": run}
    opts = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    (out / "report.json").write_bytes(orjson.dumps(report, option=opts) + b"\n")
    (out / "report.html").write_text(render(runs, run), encoding="utf-8")


def dollars(micros: float | None) -> str:
    if micros is None:
        return "–"
    return f"{'-' if micros < 0 else ''}${abs(micros) / 1_000_000:,.2f}"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _ci(iv: Mapping[str, Any] | None) -> str:
    if iv is None:
        return "–"
    return f"{dollars(iv['low'])} … {dollars(iv['high'])}"


e = html.escape

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:1400px}
h1{font-size:20px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #d0d7de}
h3{font-size:15px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}th{background:#f6f8fa}
td.l,th.l{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}
.key span{display:inline-block;width:12px;height:3px;margin:0 4px 3px 10px}
svg{background:#fff;border:1px solid #d0d7de}.note{color:#59636e}
.trades{max-height:420px;overflow:auto;display:block}
"""


def _scale(values: Sequence[float], lo_px: float, hi_px: float) -> tuple[float, float, Any]:
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1

    def f(v: float) -> float:
        return lo_px + (v - lo) / (hi - lo) * (hi_px - lo_px)

    return lo, hi, f


def line_chart(kind: str, title: str, series: Mapping[str, Sequence[Sequence[int]]]) -> str:
    """An SVG chart of one line per role: [ts_ms, micro-dollars] points."""
    pts = [p for s in series.values() for p in s]
    head = f'<svg data-chart="{e(kind)}" width="{W}" height="{H}" viewBox="0 0 {W} {H}">'
    head += f'<text x="{PAD}" y="14" font-size="12">{e(title)}</text>'
    if len(pts) < 2:
        return head + f'<text x="{PAD}" y="{H // 2}" class="note">no points</text></svg>'
    _, _, fx = _scale([p[0] for p in pts], PAD, W - 8)
    lo, hi, fy = _scale([p[1] for p in pts], H - 20, 22)
    parts = [head]
    for v, label in ((lo, dollars(lo)), (hi, dollars(hi))):
        y = fy(v)
        parts.append(f'<line x1="{PAD}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(f'<text x="2" y="{y + 4:.1f}" font-size="10">{e(label)}</text>')
    for role, s in series.items():
        if not s:
            continue
        coords = " ".join(f"{fx(t):.1f},{fy(v):.1f}" for t, v in s)
        parts.append(f'<polyline data-role="{e(role)}" fill="none" stroke-width="1.5" '
                     f'stroke="{COLOURS.get(role, "#000")}" points="{coords}"/>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def calibration_chart(bins: Sequence[Mapping[str, Any]]) -> str:
    size = H
    head = f'<svg data-chart="calibration" width="{size}" height="{size}" '
    head += f'viewBox="0 0 {size} {size}">'
    inner = size - 2 * 20

    def px(ppm: float) -> float:
        return 20 + ppm / 1_000_000 * inner

    def py(ppm: float) -> float:
        return size - 20 - ppm / 1_000_000 * inner

    parts = [head, f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1e6)}" y2="{py(1e6)}" '
             'stroke="#d0d7de" stroke-dasharray="4 3"/>',
             '<text x="20" y="13" font-size="11">observed vs stated</text>']  # fmt: skip
    for b in bins:
        if not b["count"]:
            continue
        r = min(9.0, 2.5 + b["count"] ** 0.5)
        parts.append(f'<circle data-bin="{b["low_ppm"]}" cx="{px(b["mean_stated_ppm"]):.1f}" '
                     f'cy="{py(b["observed_ppm"]):.1f}" r="{r:.1f}" fill="#1f6feb" '
                     'fill-opacity="0.7"/>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


METRIC_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("orders", "orders", str),
    ("trips", "round trips", str),
    ("win_rate", "win rate", _pct),
    ("profit_factor", "profit factor", _num),
    ("expectancy", "expectancy / trip", dollars),
    ("sharpe_game", "Sharpe (per game)", _num),
    ("sortino_game", "Sortino (per game)", _num),
    ("max_drawdown", "max drawdown", dollars),
    ("max_drawdown_pct", "max drawdown %", _pct),
    ("fees", "fees", dollars),
    ("fill_ratio", "fill ratio", _pct),
    ("avg_slippage", "avg slippage (cc)", lambda x: _num(x, "{:.1f}")),
)


def _metrics_table(fig: Mapping[str, Any]) -> str:
    roles = [r for r in ROLES if r in fig]
    rows = ["<table data-table=\"metrics\"><tr><th class=\"l\"></th>"
            + "".join(f"<th>{e(fig[r]['account'])}</th>" for r in roles) + "</tr>"]  # fmt: skip

    def row(label: str, cells: list[str]) -> None:
        rows.append(f'<tr><td class="l">{e(label)}</td>'
                    + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")  # fmt: skip

    row("net P&L", [dollars(fig[r]["pnl"]) for r in roles])
    row("95% CI, t on per-game P&L", [_ci(fig[r]["ci"]["total_t"]) for r in roles])
    row("95% CI, bootstrap over games", [_ci(fig[r]["ci"]["total_bootstrap"]) for r in roles])
    row("games traded (clusters)", [str(fig[r]["ci"]["games"]) for r in roles])
    for key, label, fmt in METRIC_ROWS:
        src = [fig[r] if key == "orders" else fig[r]["metrics"] for r in roles]
        row(label, [fmt(s[key]) for s in src])
    row("Brier", [_num(fig[r]["brier"], "{:.4f}") for r in roles])
    row("CLV vs consensus at tip-off (ppm)",
        [_num(fig[r]["clv"]["mean_ppm"], "{:,.0f}") for r in roles])  # fmt: skip
    row(
        "fills before tip-off / in game",
        [f"{fig[r]['clv']['fills_pregame']} / {fig[r]['clv']['fills_in_game']}" for r in roles],
    )
    rows.append("</table>")
    return "".join(rows)


def _trades_table(trades: Sequence[Mapping[str, Any]]) -> str:
    cols = ("order_id", "decided_ms", "ticker", "side", "action", "price", "count", "filled",
            "avg", "fees", "status", "probability_ppm", "clv_ppm", "signal")  # fmt: skip
    out = ['<table class="trades" data-table="trades"><tr>'
           + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]  # fmt: skip
    for t in trades[:TRADES_SHOWN]:
        avg = f"{t['cost'] / t['filled']:.0f}" if t["filled"] else "–"
        cells = {**t, "avg": avg, "fees": dollars(t["fees"])}
        out.append("<tr>" + "".join(
            f'<td{" class=l" if c in ("ticker", "signal") else ""}>'
            f"{e('–' if cells[c] is None else str(cells[c]))}</td>"
            for c in cols) + "</tr>")  # fmt: skip
    out.append("</table>")
    if len(trades) > TRADES_SHOWN:
        out.append(f'<p class="note">first {TRADES_SHOWN} of {len(trades)} orders; all are in '
                   "report.json</p>")  # fmt: skip
    return "".join(out)


def _strategy(name: str, fig: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    roles = [r for r in ROLES if r in fig]
    key = "".join(f'<span style="background:{COLOURS[r]}"></span>{e(fig[r]["account"])}'
                  for r in roles)  # fmt: skip
    parts = [f'<section data-strategy="{e(name)}"><h3>{e(name)}</h3>',
             f'<p class="note">status: {e(str(fig["status"]))}; errors: {fig["errors"]}; '
             f'control orders not placed: {e(str(fig["controls_not_placed"] or "none"))}</p>',
             _metrics_table(fig), f'<p class="key">{key}</p><div class="charts">',
             line_chart("equity", "equity at the mid",
                        {r: fig[r]["equity"] for r in roles}),
             line_chart("drawdown", "drawdown from the peak",
                        {r: fig[r]["drawdown"] for r in roles})]  # fmt: skip
    cal = fig["strategy"]["calibration"]
    if cal:
        parts.append(calibration_chart(cal))
    parts.append("</div>")
    if cal:
        parts.append('<table data-table="calibration"><tr><th>stated</th><th>orders</th>'
                     "<th>mean stated</th><th>observed</th></tr>")  # fmt: skip
        for b in cal:
            parts.append(f"<tr><td>{b['low_ppm'] / 1e4:.0f}–{b['high_ppm'] / 1e4:.0f}%</td>"
                         f"<td>{b['count']}</td><td>{_num(b['mean_stated_ppm'], '{:,}')}</td>"
                         f"<td>{_num(b['observed_ppm'], '{:,}')}</td></tr>")  # fmt: skip
        parts.append("</table>")
    else:
        parts.append('<p class="note">no stated probabilities: no calibration</p>')
    parts.append('<h4>parameters</h4><table data-table="params">')
    for k, v in sorted(params.items()):
        parts.append(f'<tr><td class="l">{e(k)}</td><td class="l">{e(str(v))}</td></tr>')
    parts.append("</table><h4>trades</h4>")
    parts.append(_trades_table(fig["strategy"]["trades"]))
    parts.append("</section>")
    return "".join(parts)


def _summary(runs: Sequence[Mapping[str, Any]]) -> str:
    out = ['<table data-table="summary"><tr><th class="l">run</th><th class="l">strategy</th>'
           + "".join(f"<th>{r} P&amp;L</th><th>{r} 95% CI (bootstrap)</th>" for r in ROLES)
           + "<th>trips</th><th>Brier</th></tr>"]  # fmt: skip
    for i, run in enumerate(runs):
        for name, fig in run["strategies"].items():
            label = run["label"] or f"run {i + 1}"
            cells = "".join(
                f"<td>{dollars(fig[r]['pnl'])}</td><td>{_ci(fig[r]['ci']['total_bootstrap'])}</td>"
                for r in ROLES
            )
            out.append(f'<tr><td class="l">{e(label)}</td><td class="l">{e(name)}</td>{cells}'
                       f"<td>{fig['strategy']['metrics']['trips']}</td>"
                       f"<td>{_num(fig['strategy']['brier'], '{:.4f}')}</td></tr>")  # fmt: skip
    out.append("</table>")
    return "".join(out)


def render(runs: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> str:
    first = runs[0]["recording"] if runs else {}
    parts = ["<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>Flowboard backtest</title>", f"<style>{CSS}</style></head><body>",
             "<h1>Flowboard backtest</h1>",
             f"<p>recording <b>{e(str(first.get('name', '')))}</b>: "
             f"{first.get('events', 0):,} events, {first.get('trades', 0):,} trades, "
             f"{first.get('games', 0)} games, {first.get('markets_settled', 0)} markets "
             f"settled; {len(runs)} run(s). Generated by {e(str(run.get('tool', '')))}.</p>",
             '<p class="note">Each strategy trades its own paper account beside a reverse '
             "control (the same orders on the other side, as aggressive against its touch) and "
             "a random baseline (the same number and sizes of orders at the same moments, on "
             "a market and side drawn with a seed from the run's parameters). Intervals are "
             "95%, clustered by game: a t interval on per-game net P&amp;L (cluster-robust "
             "standard error) and a percentile bootstrap resampling games. CLV: the price "
             "paid against the consensus at the game's start, for fills before it.</p>",
             "<h2>summary</h2>", _summary(runs)]  # fmt: skip
    for i, r in enumerate(runs):
        label = r["label"] or f"run {i + 1}"
        parts.append(f'<h2 data-run="{i}">{e(label)}</h2>')
        if r["overrides"]:
            text = ", ".join(f"{s}.{k}={v}" for s, k, v in r["overrides"])
            parts.append(f"<p>parameters set: {e(text)}</p>")
        for name, fig in r["strategies"].items():
            parts.append(_strategy(name, fig, r["params"][name]))
    parts.append("</body></html>\n")
    return "".join(parts)
