"""The NBA side: balldontlie client and polling, matching games to Kalshi markets, storage,
views, odds maths and the win-probability model."""
