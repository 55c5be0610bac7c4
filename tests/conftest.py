"""Shared fixtures."""

from __future__ import annotations

import logging

logging.getLogger("flowboard").setLevel(logging.INFO)
