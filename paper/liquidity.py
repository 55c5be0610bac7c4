"""The liquidity the desk's own fills took, remembered per level until the book shows that
level changed (DESIGN.md "Paper execution honesty").

Paper orders are invisible to the exchange: after a paper order takes 50 contracts at a level,
the real book still displays them. Without this memory a second order (or strategy) could take
the same 50 again. A level's memory is dropped when a delta moves that level or a snapshot
redraws the book: from then on the displayed size is the exchange's news, and the desk takes it
as it stands. (That is the rule as specified; it errs optimistic when the change is small next
to what was taken.)
"""

from __future__ import annotations

from models import Side


class TakenLiquidity:
    __slots__ = ("_taken",)

    def __init__(self) -> None:
        # ticker -> (side, bid price) -> hundredths taken since the level last changed
        self._taken: dict[str, dict[tuple[Side, int], int]] = {}

    def taken(self, ticker: str, side: Side, price: int) -> int:
        levels = self._taken.get(ticker)
        return 0 if levels is None else levels.get((side, price), 0)

    def levels(self, ticker: str, side: Side) -> dict[int, int]:
        """Bid price -> taken, on one side of one market."""
        levels = self._taken.get(ticker)
        if not levels:
            return {}
        return {p: q for (s, p), q in levels.items() if s is side}

    def take(self, ticker: str, side: Side, price: int, qty: int) -> None:
        levels = self._taken.setdefault(ticker, {})
        levels[(side, price)] = levels.get((side, price), 0) + qty

    def level_changed(self, ticker: str, side: Side, price: int) -> None:
        levels = self._taken.get(ticker)
        if levels is not None and levels.pop((side, price), None) is not None and not levels:
            del self._taken[ticker]

    def book_redrawn(self, ticker: str) -> None:
        self._taken.pop(ticker, None)

    def __contains__(self, ticker: str) -> bool:
        return ticker in self._taken

    def clear(self) -> None:
        self._taken.clear()
