"""SQLite storage beneath ``database``: the versioned schema, the batched writer, market
metadata."""
