"""Backtests: strategies over a recording through the live path, each beside a reverse control
and a random baseline, with intervals clustered by game (``flowboard backtest``: ``cli``; one
run: ``run``; the controls: ``controls``; the controls on the strategy runner's hooks: ``harness``;
the statistics: ``stats``; the report: ``report``)."""
