"""The paper bench at a tiny size, so that it keeps working as the desk changes."""

from __future__ import annotations

from bench.bench_paper import run_paper_bench


def test_the_paper_bench_runs_its_stream_through_a_desk_with_resting_orders() -> None:
    r = run_paper_bench(events=2_000, runs=1)
    assert r.events == 2_000 and r.resting == 1_000
    assert r.busy_per_s > 0 and r.idle_per_s > 0
