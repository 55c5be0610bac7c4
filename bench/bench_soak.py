"""Steady-state memory: the whole app, as ``make run`` runs it, on the simulator for an hour.

    python -m bench.bench_soak [--minutes 60] [--rate 2000] [--markets 2000] [--every 60]
                               [--short] [--keep-db]

The app runs in its own process (``python app.py --sim-rate 2000 --sim-markets 2000 --db TMP
--port 0``: the built-in exchange and balldontlie in the same process, the NBA night on), so the
resident memory read from ``/proc/PID/status`` (VmRSS) is the app's and its simulator's alone.
VmRSS is RssAnon (the heaps: what the app holds) plus RssFile (the interpreter and libraries
mapped, ~27 MiB, fewer when a busy machine evicts them); both are shown. Every ``--every``
seconds a line: minutes, RSS, anon, file, the trades seen (``/api/stats``) and the rate over the
interval, the markets the app's windows track, the database's size. At the end: the last RSS
against the goal, the peak (VmHWM), and the growth over the second half of the run (flat in a
steady state).
``--short`` is a smoke run: one minute, a line every 5 s.

Goal: whole-process RSS < 150 MiB after an hour at 2,000 trades/s over 2,000 active markets.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import report

ROOT = Path(__file__).resolve().parent.parent
GOAL_MIB = 150.0
BANNER = "Flowboard (sim) on "
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 30.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float  # since the app was ready
    rss_mib: float
    anon_mib: float
    file_mib: float
    trades_seen: int
    markets_tracked: int
    db_mib: float
    reconnects: int


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    peak_mib: float = 0.0  # VmHWM
    exit_code: int | None = None
    stats_missed: int = 0  # samples for which /api/stats did not answer in time

    @property
    def final_mib(self) -> float:
        return self.samples[-1].rss_mib

    def rate(self) -> float:
        """Trades/s over the run."""
        first, last = self.samples[0], self.samples[-1]
        return (last.trades_seen - first.trades_seen) / max(last.t_s - first.t_s, 1e-9)

    def late_growth_mib(self) -> float:
        """RSS growth over the second half of the run."""
        last = self.samples[-1]
        mid = min(self.samples, key=lambda s: abs(s.t_s - last.t_s / 2))
        return last.rss_mib - mid.rss_mib


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/PID/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _die_with_parent() -> None:
    # a killed bench must not leave an app running at 2,000 trades/s (Linux only)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def app_process(args: list[str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python app.py args`` with its output in ``log_path``; yields it and its base URL once
    it printed its banner; SIGTERM on exit (the app shuts down cleanly), SIGKILL if it hangs."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", *args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops the app
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            text = log_path.read_text(errors="replace")
            if BANNER in text:
                url = text.split(BANNER, 1)[1].split()[0].rstrip("/")
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited ({proc.returncode}) before it ran:\n{text}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no banner from the app within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_soak(
    *,
    seconds: float,
    rate: float = 2_000.0,
    markets: int = 2_000,
    sample_s: float = 10.0,
    workdir: Path,
    on_sample: Callable[[Sample], None] | None = None,
) -> SoakResult:
    db = workdir / "soak.db"
    args = ["--sim-rate", str(rate), "--sim-markets", str(markets), "--db", str(db),
            "--port", "0"]  # fmt: skip
    result = SoakResult()
    with (
        app_process(args, workdir / "app.log") as (proc, url),
        httpx.Client(base_url=url, timeout=30.0) as http,
    ):
        started = time.monotonic()
        stats: dict[str, Any] = {}
        while proc.poll() is None:
            now = time.monotonic() - started
            rss, anon, file = (proc_status_kib(proc.pid, k) / 1024
                               for k in ("VmRSS", "RssAnon", "RssFile"))  # fmt: skip
            try:
                stats = http.get("/api/stats").json()
            except httpx.HTTPError as exc:
                # a stalled app is a figure too: its memory is read all the same
                result.stats_missed += 1
                print(f"(no /api/stats at {now / 60:.1f} min: {exc!r}; the last one is shown)")
            sample = Sample(
                t_s=now, rss_mib=rss, anon_mib=anon, file_mib=file,
                trades_seen=stats.get("trades_seen", 0),
                markets_tracked=stats.get("markets_tracked", 0),
                db_mib=stats.get("db_bytes", 0) / 2**20,
                reconnects=stats.get("feed", {}).get("reconnects", 0),
            )  # fmt: skip
            result.samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
            if now >= seconds:
                break
            time.sleep(max(0.0, min(sample_s * len(result.samples), seconds) - now))
        if proc.poll() is None:
            result.peak_mib = proc_status_kib(proc.pid, "VmHWM") / 1024
    result.exit_code = proc.returncode
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2_000.0, help="simulated trades/s")
    parser.add_argument("--markets", type=int, default=2_000, help="simulated active markets")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between lines")
    parser.add_argument("--short", action="store_true", help="smoke: 1 minute, every 5 s")
    parser.add_argument("--keep-db", action="store_true", help="leave the database and log")
    args = parser.parse_args()
    minutes, every = (1.0, 5.0) if args.short else (args.minutes, args.every)
    print(f"the app on the simulator at {args.rate:,.0f} trades/s, {args.markets:,} markets, "
          f"for {minutes:g} min; whole-process RSS (VmRSS)", flush=True)  # fmt: skip
    print(f"{'min':>6} {'RSS MiB':>8} {'anon':>6} {'file':>5} {'trades':>11} {'trades/s':>9} "
          f"{'tracked':>8} {'db MiB':>8}", flush=True)  # fmt: skip
    last: list[Sample] = []

    def line(s: Sample) -> None:
        prev = last[0] if last else None
        rate = (s.trades_seen - prev.trades_seen) / (s.t_s - prev.t_s) if prev else 0.0
        print(f"{s.t_s / 60:6.1f} {s.rss_mib:8.1f} {s.anon_mib:6.1f} {s.file_mib:5.1f} "
              f"{s.trades_seen:11,} {rate:9,.0f} {s.markets_tracked:8,} {s.db_mib:8.0f}"
              + (f"  reconnects {s.reconnects}" if s.reconnects else ""), flush=True)  # fmt: skip
        last[:] = [s]

    workdir = Path(tempfile.mkdtemp(prefix="flowboard-soak-"))
    try:
        result = run_soak(
            seconds=minutes * 60, rate=args.rate, markets=args.markets, sample_s=every,
            workdir=workdir, on_sample=line,
        )  # fmt: skip
    finally:
        if args.keep_db:
            print(f"database and log kept in {workdir}")
        else:
            for p in workdir.iterdir():
                p.unlink()
            workdir.rmdir()
    report(f"whole-process RSS after {minutes:g} min", result.final_mib, "MiB",
           f"< {GOAL_MIB:.0f} MiB")  # fmt: skip
    report("  of which anonymous (RssAnon: the heaps)", result.samples[-1].anon_mib, "MiB")
    report("peak RSS (VmHWM)", result.peak_mib, "MiB")
    report("RSS growth over the second half of the run", result.late_growth_mib(), "MiB")
    report("trades/s over the run", result.rate(), "trades/s", f"{args.rate:,.0f}")
    if result.exit_code not in (0, -signal.SIGTERM, None):  # uvicorn re-raises the SIGTERM
        print(f"the app exited with {result.exit_code}")
    if result.stats_missed:
        print(f"/api/stats did not answer within 30 s {result.stats_missed} times")
    verdict = "met" if result.final_mib < GOAL_MIB else "NOT met"
    print(f"goal (< {GOAL_MIB:.0f} MiB after {minutes:g} min): {verdict}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
