"""The HTTP side: the debug API routes, the NBA routes, the 1-second board and /metrics."""
