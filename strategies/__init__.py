"""Paper-trading strategies and the maths they share (odds, win probability)."""
