"""How a trade is stored compactly, and read back exactly (pure; no I/O).

A stored trade is keyed by time: ``key = (ts_ms - EPOCH_MS) << SEQ_BITS | seq``, where ``seq``
counts the trades stored on that millisecond in arrival order, so the key orders trades by
exchange time, then arrival, and holds the exchange time itself. Ids that are canonical
lowercase UUIDs (Kalshi's) are stored as their 16 bytes; any other id as its text, so every id
reads back exactly as it came. ``recv_ms`` is stored as its distance from ``ts_ms`` (a few bytes
instead of six). Duplicates are looked for in the hour buckets (``BUCKET_BITS`` of milliseconds)
around a trade's time: ``bucket = key >> BUCKET_SHIFT``.
"""

from __future__ import annotations

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SEQ_BITS = 18  # up to 262,144 trades on one millisecond; keys fit 8 bytes until 2033
SEQ_LIMIT = 1 << SEQ_BITS
BUCKET_BITS = 22  # a dedupe bucket is 2**22 ms (69.9 minutes)
BUCKET_SHIFT = SEQ_BITS + BUCKET_BITS


def ms_of(ts_ms: int) -> int:
    """The exchange time as milliseconds since EPOCH_MS (the key without its seq)."""
    return ts_ms - EPOCH_MS


def make_key(ts_ms: int, seq: int) -> int:
    if not 0 <= seq < SEQ_LIMIT:
        raise OverflowError(f"more than {SEQ_LIMIT} trades stored on the millisecond {ts_ms}")
    return ((ts_ms - EPOCH_MS) << SEQ_BITS) | seq


def key_floor(ts_ms: int) -> int:
    """The smallest key of a trade at ``ts_ms``: keys of trades before it are below this."""
    return (ts_ms - EPOCH_MS) << SEQ_BITS


def ts_of(key: int) -> int:
    return (key >> SEQ_BITS) + EPOCH_MS


def bucket_of(ts_ms: int) -> int:
    return (ts_ms - EPOCH_MS) >> BUCKET_BITS


def bucket_keys(bucket: int) -> tuple[int, int]:
    """The keys ``lo <= key < hi`` of the trades in a bucket."""
    return bucket << BUCKET_SHIFT, (bucket + 1) << BUCKET_SHIFT


def compact_id(trade_id: str) -> bytes | str:
    """A canonical lowercase UUID as its 16 bytes; any other id unchanged."""
    if len(trade_id) == 36 and trade_id[8] == trade_id[13] == trade_id[18] == trade_id[23] == "-":
        digits = trade_id.replace("-", "")
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            return trade_id
        # fromhex takes upper case and skips blanks: only what hex() gives back is compacted
        if len(raw) == 16 and raw.hex() == digits:
            return raw
    return trade_id


def readable_id(stored: bytes | str) -> str:
    """The trade id as it came, from what ``compact_id`` stored."""
    if isinstance(stored, bytes):
        h = stored.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return stored


def readable_id_sql(column: str) -> str:
    """SQL that reads a stored id column as ``readable_id`` does (for the ``trades`` view)."""
    h = f"lower(hex({column}))"
    parts = " || '-' || ".join(
        f"substr({h}, {start}, {length})"
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    )
    return f"CASE WHEN typeof({column}) = 'blob' THEN {parts} ELSE {column} END"
