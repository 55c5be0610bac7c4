"""The end-to-end benches at tiny sizes, so that they keep working as the app changes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.bench_ingest import run_ingest
from bench.bench_latency import percentile, run_latency
from bench.bench_replay import run_replay_bench
from bench.bench_soak import run_soak
from bench.procs import spawn
from bench.ws_swarm import sampled_indices

ROOT = Path(__file__).resolve().parent.parent


def children() -> set[int]:
    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}


async def test_ingest_counts_every_trade_in_sqlite_and_at_every_client(tmp_path: Path) -> None:
    before = children()
    r = await run_ingest(
        seconds=1.5, clients=4, rate=2_000, markets=50, sample=2, raw_rows=2_000,
        workdir=tmp_path, echo=False,
    )  # fmt: skip
    assert r.emitted >= 1_000
    assert (r.stored, r.missing_in_db, r.extra_in_db) == (r.emitted, 0, 0)
    assert r.client_counts == [r.emitted] * 4
    assert r.clients_closed == [] and r.sampled_mismatch == {}
    assert not r.lost
    assert r.overall_rate > 0 and r.raw_rate > 0 and r.raw_rows == 2_000
    assert children() == before


async def test_ingest_flat_out_is_paced_by_credit(tmp_path: Path) -> None:
    r = await run_ingest(
        seconds=1.0, clients=2, rate=0, window=500, markets=50, sample=1, raw_rows=0,
        workdir=tmp_path, echo=False,
    )  # fmt: skip
    assert r.emitted > 500  # credit was granted again as the app absorbed trades
    assert not r.lost and r.raw_rate == 0


async def test_replay_runs_a_recording_through_the_driver_and_the_parser(tmp_path: Path) -> None:
    r = await run_replay_bench(trades=2_000, books=4, runs=1, workdir=tmp_path, echo=False)
    assert r.events >= 2_000 and r.frames >= 2_000 and r.ticks >= 0
    assert r.events_per_s > 0 and r.parse_frames_per_s > 0 and r.ratio > 0
    assert r.books_match_live and r.trades_match_live


async def test_latency_times_trades_at_sampled_clients(tmp_path: Path) -> None:
    rows = await run_latency(
        configs=((500, 3, 250),), runs=2, seconds=0.6, warmup=0.2, sample=2, markets=50,
        batch_ms=20, workdir=tmp_path, echo=False,
    )  # fmt: skip
    (row,) = rows
    assert len(row.runs) == 2
    for run in row.runs:
        assert run.complete and run.expected > 100
        # two sampled clients timed the trades emitted after the warm-up
        assert 0 < run.timed <= 2 * run.expected
        assert 0 <= run.p50 <= run.p99 <= run.max < 10_000
        assert run.feed_p50 >= 0 and run.hub_p50 >= 0


def test_soak_samples_the_app_process_memory_and_stops_it(tmp_path: Path) -> None:
    before = children()
    r = run_soak(seconds=2.0, rate=200, markets=50, sample_s=1.0, workdir=tmp_path)
    assert len(r.samples) >= 3 and all(s.rss_mib > 20 for s in r.samples)
    assert r.samples[-1].trades_seen > 0 and r.peak_mib >= r.final_mib
    assert r.exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the SIGTERM once shut down
    assert children() == before


async def test_a_helper_exits_when_its_parent_goes_away(tmp_path: Path) -> None:
    async with spawn("swarm", "bench.ws_swarm", ["--url", "ws://x/", "--clients", "0"]) as (
        child,
        ready,
    ):
        assert ready["clients"] == 0
        assert child.proc.stdin is not None
        child.proc.stdin.close()  # what a killed bench looks like from the child
        async with asyncio.timeout(20):
            assert await child.proc.wait() == 0


def test_percentile_is_nearest_rank() -> None:
    hist = {1: 50, 2: 49, 100: 1}
    assert percentile(hist, 0.50) == 1
    assert percentile(hist, 0.99) == 2
    assert percentile(hist, 1.0) == 100
    with pytest.raises(ValueError):
        percentile({}, 0.5)


def test_sampled_clients_spread_over_the_swarm() -> None:
    assert sampled_indices(1000, 5) == {0, 200, 400, 600, 800}
    assert sampled_indices(3, 10) == {0, 1, 2}
    assert sampled_indices(10, 0) == set()


def test_runner_lists_the_benches() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "nosuchbench"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "ingest" in out.stdout and "latency" in out.stdout and "soak" in out.stdout
