"""A sleep for retry policies in tests: records each requested delay and returns at once."""

from __future__ import annotations

import asyncio

from clock import ManualClock


class RecordedSleep:
    """Records the delays asked for (seconds); moves ``clock`` by each one when given."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.clock is not None:
            self.clock.advance(round(seconds * 1000))
        await asyncio.sleep(0)  # a turn of the loop, as a real sleep gives; no wall time
