"""A uvicorn server to run inside another program's event loop.

uvicorn's ``Server.serve`` installs SIGINT/SIGTERM handlers for as long as it runs and raises the
signal again when it returns. That suits the one server a process is about; a server embedded
beside it (the simulators inside the app, the app inside a benchmark) would take the signal
first and stop before its users. This one leaves signals to its owner, who stops it by setting
``should_exit``; ``embedded_config`` leaves logging to the owner too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def embedded_config(app: Any, **options: Any) -> uvicorn.Config:
    """A Config that leaves logging alone: uvicorn's loggers are global, and a Config that sets
    their levels and handlers would change those of the program it is embedded in."""
    return uvicorn.Config(app, log_config=None, log_level=None, **options)
