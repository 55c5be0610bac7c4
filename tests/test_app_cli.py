"""`python app.py` as a user runs it, stopped with Ctrl-C: the feed stops before the simulators,
what was received is written, and the exit is quiet."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
from websockets.sync.client import connect

from stream.decoder import TradeDecoder

ROOT = Path(__file__).parent.parent


def test_ctrl_c_stops_in_order_and_keeps_every_trade(tmp_path: Path) -> None:
    db = tmp_path / "flow.db"
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--db", str(db), "--port", "0", "--sim-rate", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        head: list[str] = []
        for line in proc.stdout:
            head.append(line)
            if "Flowboard (sim) on http://" in line:
                url = line.split(" on ", 1)[1].strip()
                break
        else:
            raise AssertionError("no URL printed:\n" + "".join(head))
        seen: set[str] = set()
        decoder = TradeDecoder()
        with connect(url.replace("http://", "ws://") + "ws/stream", open_timeout=10) as ws:
            while len(seen) < 200:
                trades = decoder.feed(orjson.loads(ws.recv(timeout=10)))
                seen.update(t["id"] for t in trades)
        proc.send_signal(signal.SIGINT)
        tail, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = "".join(head) + tail
    assert proc.returncode == 130, log
    assert "Traceback" not in log
    assert "kalshi ws:" not in log  # the simulator did not go first under the feed
    assert "balldontlie transport error" not in log
    assert "Application shutdown complete" in log
    assert log.count("Started server process") == 1  # the simulators' servers keep quiet
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT trade_id FROM trades")}
    assert seen <= stored
