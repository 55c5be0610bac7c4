"""Fault injection switches for the simulated exchange (tests and client authors use them)."""

from __future__ import annotations

from collections.abc import Callable


class Faults:
    """The exchange reads these switches; the methods that act now call back into it."""

    def __init__(
        self,
        *,
        on_drop: Callable[[], None],
        on_skip_seq: Callable[[str, int], None],
        on_malformed: Callable[[str], None],
    ) -> None:
        self._on_drop = on_drop
        self._on_skip_seq = on_skip_seq
        self._on_malformed = on_malformed
        self.delay_ms = 0
        self.burst_429 = 0
        self.silent = False
        self.book_drops: dict[str, int] = {}
        self.bad_rest_trades: set[str] = set()
        self.auth_rejects = 0

    def drop_connections(self) -> None:
        """Close every WS connection now, abruptly (no close frame)."""
        self._on_drop()

    def skip_seq(self, channel: str, n: int = 1) -> None:
        """The next message on ``channel`` jumps seq by ``n`` on every subscription; the
        skipped messages are lost."""
        if n < 1:
            raise ValueError("n must be >= 1")
        self._on_skip_seq(channel, n)

    def send_malformed(self, text: str) -> None:
        self._on_malformed(text)

    def set_delay_ms(self, ms: int) -> None:
        self.delay_ms = max(0, ms)

    def rate_limit_burst(self, n: int) -> None:
        """The next ``n`` REST requests get 429."""
        self.burst_429 = max(0, n)

    def silence(self, on: bool) -> None:
        """While on, nothing (pings included) is sent to WS clients; frames are lost."""
        self.silent = on

    def drop_book_deltas(self, ticker: str, n: int = 1) -> None:
        """Lose the next ``n`` book deltas of ``ticker``; their seq numbers are still used."""
        self.book_drops[ticker] = self.book_drops.get(ticker, 0) + n

    def corrupt_rest_trade(self, trade_id: str) -> None:
        """From now on `/markets/trades` serves this trade with a count that is not a number
        (the WebSocket frames stay correct)."""
        self.bad_rest_trades.add(trade_id)

    def reject_auth(self, n: int = 1) -> None:
        """The next ``n`` signed REST requests get 401 as if the key had been revoked."""
        self.auth_rejects = max(0, n)

    def take_auth_reject(self) -> bool:
        if self.auth_rejects > 0:
            self.auth_rejects -= 1
            return True
        return False

    def take_429(self) -> bool:
        if self.burst_429 > 0:
            self.burst_429 -= 1
            return True
        return False
