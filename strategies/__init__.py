"""Paper-trading strategies, one module each."""
