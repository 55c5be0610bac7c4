"""What the five strategies share: config checks that name the field, the freshness checks every
one of them makes before it trades, and the prices and fees of crossing the book.

A check that fails returns the reason as text (it becomes the strategy's ``status``), never
raises: stale inputs are a normal state of the world, not an error.

Units as everywhere: prices centicents of a side, counts hundredths, probabilities ppm, times
epoch ms. An edge is centicents per contract.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from kalshi.orderbook import OrderBook
from models import COUNT_SCALE, PRICE_SCALE, GameState, GameStatus, Side
from nba.odds import Consensus
from nba.state import NbaState
from strategies.base import Context

PPM = 1_000_000
CC_PER_PPM = PPM // PRICE_SCALE  # 100 ppm of probability is one centicent of a $1 payout

C = TypeVar("C")


class FieldError(ValueError):
    """A config value out of its range or form; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise FieldError(field, message)


def check_fraction_ppm(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(0 <= value <= PPM, name, f"must be 0..{PPM} ppm, got {value}")


def check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value > 0, name, f"must be positive, got {value}")


def check_not_negative(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        check(value >= 0, name, f"must not be negative, got {value}")


def check_whole_contracts(config: object, *names: str) -> None:
    """Counts in hundredths that must be whole contracts (markets may not trade fractions)."""
    for name in names:
        value = getattr(config, name)
        check(
            value > 0 and value % COUNT_SCALE == 0,
            name,
            f"must be a positive number of whole contracts (hundredths), got {value}",
        )


def config_json(config: object) -> dict[str, Any]:
    """A config as plain JSON values (its fields are ints, floats, bools and strings)."""
    assert dataclasses.is_dataclass(config) and not isinstance(config, type)
    return dataclasses.asdict(config)


def replaced(config: C, changes: Mapping[str, object]) -> C:
    """``config`` with ``changes`` (JSON values) applied and validated: an unknown key, a value
    of the wrong type or one ``validate`` refuses raises ``FieldError`` naming the field."""
    assert dataclasses.is_dataclass(config) and not isinstance(config, type)
    hints = typing.get_type_hints(type(config))
    names = {f.name for f in dataclasses.fields(config)}
    coerced: dict[str, object] = {}
    for key, value in changes.items():
        if key not in names:
            raise FieldError(key, f"no such setting (settings: {', '.join(sorted(names))})")
        want = hints[key]
        if want is bool:
            ok = type(value) is bool
        elif want is int:
            ok = type(value) is int
        elif want is float:
            ok = type(value) in (int, float) and math.isfinite(typing.cast(float, value))
            value = float(typing.cast(float, value)) if ok else value
        elif want is str:
            ok = type(value) is str
        else:  # pragma: no cover - configs hold only the four
            raise TypeError(f"{type(config).__name__}.{key}: unsupported type {want}")
        if not ok:
            raise FieldError(key, f"must be {getattr(want, '__name__', want)}, got {value!r}")
        coerced[key] = value
    new = dataclasses.replace(config, **coerced)
    new.validate()  # type: ignore[attr-defined]
    return new


# ---- freshness ---------------------------------------------------------------------------------


def usable_book(ctx: Context, ticker: str) -> tuple[OrderBook | None, str]:
    """The market's book if it can be traded on: followed, not stale (a gap), both sides shown."""
    book = ctx.book(ticker)
    if book is None:
        return None, f"no book for {ticker}"
    if book.stale:
        return None, f"book stale (gap or no snapshot) on {ticker}"
    if not book.yes or not book.no:
        return None, f"one-sided book on {ticker}"
    return book, ""


def fresh_consensus(
    nba: NbaState, game_id: int, market: str, now_ms: int, min_books: int, max_age_ms: int
) -> tuple[Consensus | None, str]:
    """The no-vig sportsbook consensus of a game's market if it has ``min_books`` books and every
    book's quote is at most ``max_age_ms`` old (since it last changed: the poller sends changes)."""
    c = nba.consensus.get(game_id, {}).get(market)
    if c is None:
        return None, f"no {market} consensus for game {game_id}"
    if len(c.books) < min_books:
        return None, f"{len(c.books)} books quote game {game_id}, want {min_books}"
    oldest, who = 0, ""
    for vendor in c.books:
        q = nba.quotes.get((game_id, vendor, market))
        age = now_ms - q.recv_ms if q is not None else max_age_ms + 1
        if age > oldest:
            oldest, who = age, vendor
    if oldest > max_age_ms:
        return None, f"stale odds: {who} {oldest // 1000} s old (limit {max_age_ms // 1000} s)"
    return c, ""


def fresh_game(
    nba: NbaState, game_id: int, now_ms: int, max_age_ms: int
) -> tuple[GameState | None, str]:
    """The game if it is not over and, while it is live, its score at most ``max_age_ms`` old
    (halftime and before tip-off the score holds still, so any age will do)."""
    g = nba.games.get(game_id)
    if g is None:
        return None, f"no score for game {game_id}"
    if g.status is GameStatus.FINAL:
        return None, f"game {game_id} is final"
    age = now_ms - g.recv_ms
    if g.status is GameStatus.LIVE and age > max_age_ms:
        return None, f"stale scores: game {game_id} {age // 1000} s old"
    return g, ""


# ---- prices and fees ---------------------------------------------------------------------------


def best_ask(book: OrderBook, side: Side) -> tuple[int, int] | None:
    """(price, size) that buying ``side`` would pay and get at the touch."""
    return book.best_yes_ask() if side is Side.YES else book.best_no_ask()


def best_bid(book: OrderBook, side: Side) -> tuple[int, int] | None:
    """(price, size) that selling ``side`` would get at the touch."""
    return book.best_yes_bid() if side is Side.YES else book.best_no_bid()


def fee_cc(ctx: Context, ticker: str, count: int, price: int) -> int:
    """The taker fee per contract of ``count`` at ``price``, centicents, rounded up."""
    micros = ctx.taker_fee(ticker, count, price)
    return -(-micros // count)  # micro-dollars / hundredths = centicents per contract


def edge_cc(probability_ppm: int, price: int, fee: int) -> int:
    """Expected value per contract of buying at ``price`` (plus ``fee``) a side that wins with
    ``probability_ppm``, centicents (rounded down)."""
    return probability_ppm // CC_PER_PPM - price - fee


def side_of(yes: bool) -> Side:
    return Side.YES if yes else Side.NO


def held(ctx: Context, ticker: str) -> tuple[Side | None, int]:
    """The side the account holds on the market and how much (hundredths)."""
    net = ctx.position(ticker)
    if net == 0:
        return None, 0
    return (Side.YES if net > 0 else Side.NO), abs(net)


def has_open_orders(ctx: Context, ticker: str) -> bool:
    return any(o.ticker == ticker for o in ctx.open_orders())


def whole(ctx: Context, ticker: str, count: int) -> int:
    """``count`` rounded down to what the market trades (whole contracts unless fractional)."""
    info = ctx.market(ticker)
    if info is not None and info.fractional_trading_enabled:
        return count
    return count - count % COUNT_SCALE


def cents(cc: int) -> str:
    """Centicents as signed cents for a status or signal ("+3.5c")."""
    return f"{cc / 100:+.1f}c"
