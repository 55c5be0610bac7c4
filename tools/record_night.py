"""Record a simulated NBA night with the real app, for the backtest's bundled recording.

    python tools/record_night.py recordings/sim-night.rec.gz [--games 15] [--game-speed 60]
        [--rate 20] [--markets 40] [--seed 7]

The app runs on the built-in simulator (``--source sim --record``): the Kalshi feed with books
on the matched NBA markets, balldontlie's responses and discovery's matches all go into the
recording, exactly as ``make run ARGS="--record FILE"`` would write them. It stops once every
game is final and every matched market of it has a result (so a backtest sees every market
settle), then compresses the file with gzip (``ingest.recording`` reads it as it is).

The recording's times are the wall clock's while it was made; the night itself is the
simulator's (seeded), but the interleaving of frames and polls is the machine's: a second run
gives another recording, each of which replays and backtests identically on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from app import Flowboard, create_app  # noqa: E402
from config import Settings  # noqa: E402
from models import Event, GameStatus  # noqa: E402

RESULTS = ("yes", "no")


def settled(fb: Flowboard, games: int) -> bool:
    nba = fb.nba
    if nba is None:
        return False
    state = nba.state
    return (
        len(state.games) == games
        and all(g.status is GameStatus.FINAL for g in state.games.values())
        and set(state.markets) == set(state.games)
        and all(
            state.status_of(m.ticker).result in RESULTS for ms in state.markets.values() for m in ms
        )
    )


async def record(args: argparse.Namespace, raw: Path, workdir: Path) -> None:
    settings = Settings(
        source="sim", db_path=str(workdir / "night.db"), port=0, record_path=str(raw),
        sim_rate=args.rate, sim_markets=args.markets, sim_seed=args.seed, sim_games=args.games,
        sim_game_speed=args.game_speed, sim_tipoff_s=args.tipoff, sim_game_stagger_s=0,
        log_level="WARNING",
    )  # fmt: skip
    ready: asyncio.Future[Flowboard] = asyncio.get_running_loop().create_future()
    app = create_app(settings, on_ready=ready.set_result)
    async with app.router.lifespan_context(app):
        fb = await ready
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def check(event: Event) -> None:
            if not done.done() and settled(fb, args.games):
                done.set_result(None)

        fb.pipeline.listen("record-night-done", check)
        started = time.monotonic()
        async with asyncio.timeout(args.timeout):
            await done
        print(f"night over after {time.monotonic() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the recording to write (gzip)")
    parser.add_argument("--games", type=int, default=15)
    parser.add_argument("--game-speed", type=float, default=60.0)
    parser.add_argument("--tipoff", type=int, default=20, help="seconds to the first tip-off")
    parser.add_argument("--rate", type=float, default=20.0, help="sim trades/s, all markets")
    parser.add_argument("--markets", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowboard-night-") as tmp:
        raw = Path(tmp) / "night.rec"
        asyncio.run(record(args, raw, Path(tmp)))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(raw, "rb") as src, gzip.GzipFile(args.out, "wb", 9, mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        print(f"{args.out}: {raw.stat().st_size / 2**20:.1f} MiB recorded, "
              f"{args.out.stat().st_size / 2**20:.1f} MiB gzipped", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
