"""TaskOwner: every background task has an owner that cancels and awaits it."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskOwner:
    """Starts named tasks, notices when one dies, and stops them all in reverse order.

    A task that ends with an exception is logged at once and its exception kept; ``close``
    re-raises the first one after everything has stopped, so a dead task is never silent.
    """

    def __init__(self, on_failure: Callable[[str, BaseException], None] | None = None) -> None:
        self._tasks: list[tuple[str, asyncio.Task[Any]]] = []
        self._failures: list[tuple[str, BaseException]] = []
        self._on_failure = on_failure

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append((name, task))
        task.add_done_callback(functools.partial(self._done, name))
        return task

    def _done(self, name: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            log.info("task %s finished", name)
            return
        log.error("task %s died: %r", name, exc, exc_info=exc)
        self._failures.append((name, exc))
        if self._on_failure is not None:
            self._on_failure(name, exc)

    @property
    def failures(self) -> list[tuple[str, BaseException]]:
        return list(self._failures)

    def running(self) -> list[str]:
        return [name for name, task in self._tasks if not task.done()]

    async def close(self, raise_failures: bool = False) -> None:
        for _, task in reversed(self._tasks):
            task.cancel()
        for _, task in reversed(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already logged and recorded by _done
                pass
        self._tasks.clear()
        if raise_failures and self._failures:
            name, exc = self._failures[0]
            raise RuntimeError(f"background task {name} failed") from exc
