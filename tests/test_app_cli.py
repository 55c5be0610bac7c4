"""`python app.py` as a user runs it: stopped with Ctrl-C, the feed stops before the simulators,
what was received is written, and the exit is quiet; a live start with a key that cannot work
stops at once with one line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
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


def _ec_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("missing", "No such file or directory"),
        ("garbage", "not a usable PEM private key"),
        ("directory", "Is a directory"),
        ("not RSA", "Kalshi keys are RSA"),
    ],
)
def test_live_with_a_key_that_cannot_work_stops_with_one_line(
    tmp_path: Path, kind: str, problem: str
) -> None:
    key = tmp_path / "kalshi key.pem"
    if kind == "garbage":
        key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n")
    elif kind == "directory":
        key.mkdir()
    elif kind == "not RSA":
        key.write_bytes(_ec_key_pem())
    env = {**os.environ, "KALSHI_API_KEY_ID": "key-id-1", "KALSHI_PRIVATE_KEY_PATH": str(key)}
    proc = subprocess.run(
        [sys.executable, "app.py", "--source", "live", "--db", str(tmp_path / "flow.db")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"flowboard: private key file {key}: "), proc.stderr
    assert problem in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "flow.db").exists()  # stopped before anything started


def test_listening_beyond_loopback_without_a_token_stops_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWBOARD_API_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "app.py", "--host", "0.0.0.0", "--port", "0",
         "--db", str(tmp_path / "flow.db")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("flowboard: --host 0.0.0.0 listens beyond loopback: set "
                                  "FLOWBOARD_API_TOKEN"), proc.stderr  # fmt: skip
    assert proc.stdout == ""
    assert not (tmp_path / "flow.db").exists()
