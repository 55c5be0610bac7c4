"""Recordings of the Kalshi feed: every raw frame as received, and every trade a REST backfill
delivered, each with its receipt time, one record per line.

Line 1 is a header ``{"flowboard_recording": 2, "source": ..., "started_ms": ...}``; then a frame
is ``<recv_ms> ws <frame text>`` (the text as received, after one space: reading it back needs
no JSON parse beyond the frame's own), or ``[recv_ms, "ws", "<frame text>"]`` when the text holds
a line break; the other records are JSON arrays: ``[recv_ms, "backfill", {trade fields}]`` or
``[recv_ms, "markets", [{market fields}, ...]]`` (the answer to a market-details lookup),
``[recv_ms, "series", [{series fields}, ...]]`` (the answer to a series lookup: fees); the NBA
side adds ``[recv_ms, "nba", ["<path with query>", "<body text>"]]`` (a balldontlie response) and
``[recv_ms, "nba_matches", {"ts_ms": ..., "markets": [{matched market fields}, ...]}]`` (what a
discovery matched). Frames and responses are kept verbatim, so a recording replays through the
same parsers the live run uses. A recording compressed with gzip (``gzip night.rec``; told by
the gzip magic at its start, whatever its name) reads as it is, decompressed on the fly. Version 1
(every record a JSON array) is still read; a recording of version 1 that is appended to stays in
that version.

The recorder never blocks the reader: lines go to an in-memory list and a background task
writes them to the file in a worker thread every ``flush_ms``.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import orjson

from errors import ConfigError
from models import (
    MarketInfo,
    MatchedMarket,
    NbaMarketsMatched,
    PriceRange,
    SeriesInfo,
    Side,
    Trade,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
READ_CHUNK = 1 << 17  # bytes read and decoded at a time: its lines are still in cache when used
READ_VERSIONS = (1, 2)
KINDS = frozenset({"ws", "backfill", "markets", "series", "nba", "nba_matches"})


class RecordingError(ConfigError):
    """The file is not a Flowboard recording (or not one this version reads)."""


def trade_fields(t: Trade) -> dict[str, Any]:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "yes_price": t.yes_price,
        "count": t.count,
        "taker_side": t.taker_side.value,
        "ts_ms": t.ts_ms,
    }


def trade_from_fields(d: Any, recv_ms: int) -> Trade:
    if not isinstance(d, dict):
        raise ValueError("backfill record is not an object")
    try:
        price, count, ts = d["yes_price"], d["count"], d["ts_ms"]
        if not all(type(v) is int for v in (price, count, ts)):
            raise ValueError("yes_price, count and ts_ms must be integers")
        if not 0 < price < 10_000 or count <= 0:
            raise ValueError(f"price {price} or count {count} out of range")
        trade_id, ticker = d["trade_id"], d["ticker"]
        if not isinstance(trade_id, str) or not isinstance(ticker, str) or not ticker:
            raise ValueError("trade_id and ticker must be strings")
        return Trade(trade_id, ticker, price, count, Side(d["taker_side"]), ts, recv_ms)
    except KeyError as exc:
        raise ValueError(f"backfill record lacks {exc.args[0]}") from None


_MARKET_STR = ("ticker", "event_ticker", "series_ticker", "title", "subtitle", "status",
               "yes_sub_title", "no_sub_title")  # fmt: skip
_MARKET_OPT_INT = ("open_ts_ms", "close_ts_ms")
_MARKET_OPT_STR = ("floor_strike", "result")


def market_fields(m: MarketInfo) -> dict[str, Any]:
    d = {k: getattr(m, k) for k in (*_MARKET_STR, *_MARKET_OPT_INT, *_MARKET_OPT_STR)}
    d["price_level_structure"] = m.price_level_structure
    d["price_ranges"] = [[r.start, r.end, r.step] for r in m.price_ranges]
    d["fractional_trading_enabled"] = m.fractional_trading_enabled
    return d


def _ranges(raw: Any) -> tuple[PriceRange, ...]:
    if not isinstance(raw, list):
        raise ValueError("price_ranges must be a list")
    out = []
    for r in raw:
        if not (isinstance(r, list) and len(r) == 3 and all(type(x) is int for x in r)):
            raise ValueError("a price range must be [start, end, step]")
        start, end, step = r
        if not (0 <= start < end <= 10_000 and step > 0 and (end - start) % step == 0):
            raise ValueError(f"bad price range {r!r}")
        out.append(PriceRange(start, end, step))
    return tuple(out)


def market_from_fields(d: Any) -> MarketInfo:
    """A recorded market; the tick structure fields are absent in older recordings."""
    if not isinstance(d, dict):
        raise ValueError("market record is not an object")
    try:
        for k in _MARKET_STR:
            if not isinstance(d[k], str):
                raise ValueError(f"{k} must be a string")
        for k in _MARKET_OPT_INT:
            if d[k] is not None and type(d[k]) is not int:
                raise ValueError(f"{k} must be an integer or null")
        for k in _MARKET_OPT_STR:
            if d[k] is not None and not isinstance(d[k], str):
                raise ValueError(f"{k} must be a string or null")
        if not d["ticker"]:
            raise ValueError("empty ticker")
        structure = d.get("price_level_structure", "")
        fractional = d.get("fractional_trading_enabled", False)
        if not isinstance(structure, str) or type(fractional) is not bool:
            raise ValueError("price_level_structure or fractional_trading_enabled mistyped")
        return MarketInfo(
            **{k: d[k] for k in (*_MARKET_STR, *_MARKET_OPT_INT, *_MARKET_OPT_STR)},
            price_level_structure=structure,
            price_ranges=_ranges(d.get("price_ranges", [])),
            fractional_trading_enabled=fractional,
        )
    except KeyError as exc:
        raise ValueError(f"market record lacks {exc.args[0]}") from None


_SERIES_STR = ("ticker", "title", "category", "fee_type")


def series_fields(s: SeriesInfo) -> dict[str, Any]:
    return {k: getattr(s, k) for k in (*_SERIES_STR, "fee_multiplier_ppm")}


def series_from_fields(d: Any) -> SeriesInfo:
    if not isinstance(d, dict):
        raise ValueError("series record is not an object")
    try:
        for k in _SERIES_STR:
            if not isinstance(d[k], str):
                raise ValueError(f"{k} must be a string")
        ppm = d["fee_multiplier_ppm"]
        if type(ppm) is not int or ppm < 0:
            raise ValueError("fee_multiplier_ppm must be a non-negative integer")
        if not d["ticker"]:
            raise ValueError("empty ticker")
        return SeriesInfo(d["ticker"], d["title"], d["category"], d["fee_type"], ppm)
    except KeyError as exc:
        raise ValueError(f"series record lacks {exc.args[0]}") from None


_MATCHED_STR = ("ticker", "event_ticker", "kind", "date", "away", "home", "status")
_MATCHED_OPT_STR = ("yes_team", "result")
_MATCHED_OPT_INT = ("strike_tenths",)


def matched_fields(event: NbaMarketsMatched) -> dict[str, Any]:
    names = ("game_id", *_MATCHED_STR, *_MATCHED_OPT_STR, *_MATCHED_OPT_INT)
    return {
        "ts_ms": event.ts_ms,
        "markets": [{k: getattr(m, k) for k in names} for m in event.markets],
    }


def _matched_market(d: Any) -> MatchedMarket:
    if not isinstance(d, dict):
        raise ValueError("matched market is not an object")
    for k in _MATCHED_STR:
        if not isinstance(d[k], str):
            raise ValueError(f"{k} must be a string")
    for k in _MATCHED_OPT_STR:
        if d[k] is not None and not isinstance(d[k], str):
            raise ValueError(f"{k} must be a string or null")
    for k in _MATCHED_OPT_INT:
        if d[k] is not None and type(d[k]) is not int:
            raise ValueError(f"{k} must be an integer or null")
    if type(d["game_id"]) is not int:
        raise ValueError("game_id must be an integer")
    return MatchedMarket(
        ticker=d["ticker"], event_ticker=d["event_ticker"], game_id=d["game_id"], kind=d["kind"],
        date=d["date"], away=d["away"], home=d["home"], yes_team=d["yes_team"],
        strike_tenths=d["strike_tenths"], status=d["status"], result=d["result"],
    )  # fmt: skip


def matched_from_fields(d: Any, recv_ms: int) -> NbaMarketsMatched:
    if not isinstance(d, dict):
        raise ValueError("nba_matches record is not an object")
    try:
        if type(d["ts_ms"]) is not int or not isinstance(d["markets"], list):
            raise ValueError("ts_ms must be an integer and markets a list")
        markets = tuple(_matched_market(m) for m in d["markets"])
    except KeyError as exc:
        raise ValueError(f"nba_matches record lacks {exc.args[0]}") from None
    return NbaMarketsMatched(markets, d["ts_ms"], recv_ms)


class Recorder:
    def __init__(self, path: str, *, source: str, started_ms: int, flush_ms: int = 200) -> None:
        self.path = path
        self._flush_s = flush_ms / 1000
        self._pending: list[bytes] = []
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()
        # the write in a worker thread, if one is under way: cancelling the task that started
        # it must not cancel it (a write still queued for a thread would be dropped), and the
        # next write starts only after it, so lines keep their order
        self._writing: asyncio.Future[None] | None = None
        self.lines = 0
        self.bytes = 0
        # a file appended to keeps its version: one of version 1 gets only JSON-array lines
        self._frame_lines = True
        if self._file.tell() == 0:
            header = {"flowboard_recording": FORMAT_VERSION, "source": source,
                      "started_ms": started_ms}  # fmt: skip
            self._pending.append(orjson.dumps(header) + b"\n")
        else:
            with open(path, "rb") as f:
                self._frame_lines = _version(f.readline()) != 1

    def frame(self, recv_ms: int, raw: str | bytes) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if self._frame_lines and "\n" not in text and "\r" not in text:
            self._pending.append(b"%d ws %b\n" % (recv_ms, text.encode()))
        else:
            self._pending.append(orjson.dumps([recv_ms, "ws", text]) + b"\n")

    def backfill(self, recv_ms: int, trades: list[Trade]) -> None:
        for t in trades:
            self._pending.append(orjson.dumps([recv_ms, "backfill", trade_fields(t)]) + b"\n")

    def markets(self, recv_ms: int, infos: list[MarketInfo]) -> None:
        if infos:
            line = [recv_ms, "markets", [market_fields(m) for m in infos]]
            self._pending.append(orjson.dumps(line) + b"\n")

    def series(self, recv_ms: int, infos: list[SeriesInfo]) -> None:
        if infos:
            line = [recv_ms, "series", [series_fields(i) for i in infos]]
            self._pending.append(orjson.dumps(line) + b"\n")

    def nba(self, recv_ms: int, path: str, body: bytes) -> None:
        """A balldontlie response as received (``NbaClient``'s ``on_response`` hook)."""
        text = body.decode("utf-8", "replace")
        self._pending.append(orjson.dumps([recv_ms, "nba", [path, text]]) + b"\n")

    def nba_matches(self, event: NbaMarketsMatched) -> None:
        line = [event.recv_ms, "nba_matches", matched_fields(event)]
        self._pending.append(orjson.dumps(line) + b"\n")

    def _write(self, chunk: list[bytes]) -> None:
        data = b"".join(chunk)
        self._file.write(data)
        self._file.flush()
        self.lines += len(chunk)
        self.bytes += len(data)

    async def flush(self) -> None:
        if self._writing is not None:
            await asyncio.shield(self._writing)
            self._writing = None
        if self._pending:
            chunk, self._pending = self._pending, []
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, chunk))
            await asyncio.shield(self._writing)
            self._writing = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    async def close(self) -> None:
        await self.flush()
        self._file.close()
        log.info("recording %s: %d lines, %d bytes", self.path, self.lines, self.bytes)


class Record(NamedTuple):
    """One line of a recording. (A named tuple: one is built per line, and cheaper so.)"""

    line: int
    recv_ms: int
    kind: str  # "ws" | "backfill" | "markets" | "series" | "nba" | "nba_matches"
    body: Any  # frame text, trade fields, market fields, [path, body text], matched fields


Row = tuple[int, int, str, Any]  # a Record's fields, as ``read_rows`` yields them


@dataclass(slots=True)
class ReadStats:
    records: int = 0
    skipped: int = 0


def _version(first: bytes) -> object:
    try:
        header = orjson.loads(first)
    except orjson.JSONDecodeError:
        return None
    return header.get("flowboard_recording") if isinstance(header, dict) else None


def _check_header(path: str | Path, first: bytes) -> dict[str, Any]:
    try:
        header = orjson.loads(first)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or "flowboard_recording" not in header:
        raise RecordingError(f"{path}: not a Flowboard recording (no header on line 1)")
    if header["flowboard_recording"] not in READ_VERSIONS:
        raise RecordingError(
            f"{path}: recording format {header['flowboard_recording']!r}, "
            f"this version reads {', '.join(map(str, READ_VERSIONS))}"
        )
    if type(header.get("started_ms")) is not int:
        raise RecordingError(f"{path}: the header has no started_ms")
    return header


GZIP_MAGIC = b"\x1f\x8b"


def open_recording(path: str | Path) -> IO[bytes]:
    """The recording's bytes, decompressed if it is gzip (by its first two bytes)."""
    f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - the caller closes it
    if f.read(2) == GZIP_MAGIC:
        f.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    f.seek(0)
    return f


def read_header(path: str | Path) -> dict[str, Any]:
    """The recording's header; RecordingError if the file is missing or not a recording."""
    try:
        with open_recording(path) as f:
            return _check_header(path, f.readline())
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the recording: {exc.strerror}") from None


def _json_record(line: str) -> tuple[int, str, Any]:
    """A record written as a JSON array ``[recv_ms, kind, body]``; ValueError if damaged."""
    rec = orjson.loads(line)
    if not (isinstance(rec, list) and len(rec) == 3 and type(rec[0]) is int):
        raise ValueError("expected [recv_ms, kind, body]")
    recv_ms, kind, body = rec
    if kind == "ws" and not isinstance(body, str):
        raise ValueError("ws record body must be the frame text")
    if kind in ("markets", "series") and not isinstance(body, list):
        raise ValueError(f"{kind} record body must be a list")
    if kind == "nba" and not (
        isinstance(body, list) and len(body) == 2 and all(isinstance(x, str) for x in body)
    ):
        raise ValueError("nba record body must be [path, body text]")
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    return recv_ms, kind, body


def _chunks(f: IO[bytes]) -> Iterator[Sequence[str | None]]:
    """The rest of ``f`` as its lines without their ends, READ_CHUNK bytes at a time: each chunk
    decoded at once, or, if it is not all UTF-8, line by line (None for a line that is not)."""
    carry = b""
    while data := f.read(READ_CHUNK):
        if carry:
            data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield _lines(data[:cut])
    if carry:
        yield _lines(carry)


def _lines(data: bytes) -> Sequence[str | None]:
    try:
        return data.decode().split("\n")
    except UnicodeDecodeError:
        return [_text(line) for line in data.split(b"\n")]


def _text(line: bytes) -> str | None:
    try:
        return line.decode()
    except UnicodeDecodeError:
        return None


def read_recording(path: str | Path, stats: ReadStats | None = None) -> Iterator[Record]:
    """The records of a recording, in file order. A damaged line (not UTF-8, bad JSON, wrong
    shape, time going back) is logged with its line number, counted in ``stats.skipped`` and
    skipped; the rest is still read. A file without the header raises RecordingError."""
    return map(Record._make, read_rows(path, stats))


def read_rows(path: str | Path, stats: ReadStats | None = None) -> Iterator[Row]:
    """``read_recording``'s records as plain tuples, for a replay's loop: a tuple is built
    faster than a Record, and this is once a line."""
    stats = stats if stats is not None else ReadStats()
    with open_recording(path) as f:
        frame_lines = _check_header(path, f.readline())["flowboard_recording"] != 1
        last_ms = 0
        number = 2
        for lines in _chunks(f):
            for number, line in enumerate(lines, start=number):  # noqa: B020 - counts on
                if not line:
                    if line is None:
                        stats.skipped += 1
                        log.warning("%s line %d skipped: not UTF-8", path, number)
                    continue
                try:
                    # ``<recv_ms> ws <frame text>``: the frame as received, to the line's end
                    if frame_lines and "0" <= line[0] <= "9":
                        parts = line.split(" ", 2)
                        if len(parts) < 3 or parts[1] != "ws" or not parts[0].isdigit():
                            raise ValueError("expected <recv_ms> ws <frame text>")
                        recv_ms, kind, body = int(parts[0]), "ws", parts[2]
                    elif line.isspace():
                        continue
                    else:
                        recv_ms, kind, body = _json_record(line)
                    if recv_ms < last_ms:
                        raise ValueError(f"time goes back: {recv_ms} < {last_ms}")
                except (orjson.JSONDecodeError, ValueError) as exc:
                    stats.skipped += 1
                    log.warning("%s line %d skipped: %s", path, number, exc)
                    continue
                last_ms = recv_ms
                stats.records += 1
                yield number, recv_ms, kind, body
            number += 1
