"""Kalshi's protocol: request signing, endpoints, the wire parsers, the WebSocket connection and
the feed. ``kalshi_client`` at the top is the way in; nothing in here imports it."""
