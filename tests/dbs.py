"""A database with its writer running, as the app runs it: the writer task owned, then stopped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from database import Database
from infra.tasks import TaskOwner


@contextlib.asynccontextmanager
async def writing(db: Database) -> AsyncIterator[Database]:
    tasks = TaskOwner()
    tasks.start("db-writer", db.run())
    try:
        yield db
    finally:
        await tasks.close()
