"""A uvicorn server to run inside another program's event loop.

uvicorn's ``Server.serve`` installs SIGINT/SIGTERM handlers for as long as it runs and raises the
signal again when it returns. That suits the one server a process is about; a server embedded
beside it (the simulators inside the app, the app inside a benchmark) would take the signal
first and stop before its users. This one leaves signals to its owner, who stops it by setting
``should_exit``. ``embedded_config`` leaves logging to the owner too, and the embedded server's
own info lines (started, connection open, shutting down) stay out of the owner's log: uvicorn's
loggers are global, so they are told apart by the task they are logged from.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import uvicorn

_inside: ContextVar[bool] = ContextVar("inside_embedded_uvicorn", default=False)


class _EmbeddedInfo(logging.Filter):
    """Drops uvicorn's records below WARNING logged from an embedded server's tasks."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _inside.get()


for _name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(_name).addFilter(_EmbeddedInfo())


class EmbeddedServer(uvicorn.Server):
    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # this task's context, and that of every task and callback it starts
        _inside.set(True)
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def embedded_config(app: Any, **options: Any) -> uvicorn.Config:
    """A Config that leaves logging alone: uvicorn's loggers are global, and a Config that sets
    their levels and handlers would change those of the program it is embedded in."""
    return uvicorn.Config(app, log_config=None, log_level=None, **options)
