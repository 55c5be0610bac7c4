from fractions import Fraction

import pytest

from models import OddsQuote
from nba.odds import (
    american_from_probability,
    consensus,
    devig_additive,
    devig_multiplicative,
    devig_ppm,
    implied_probability,
    is_sportsbook,
    quote_fair_ppm,
)


def test_american_to_probability_exact() -> None:
    assert implied_probability(-150) == Fraction(3, 5)
    assert implied_probability(130) == Fraction(10, 23)
    assert implied_probability(-110) == Fraction(11, 21)
    assert implied_probability(100) == Fraction(1, 2)
    with pytest.raises(ValueError):
        implied_probability(50)


def test_probability_to_american_round_trip() -> None:
    assert american_from_probability(Fraction(3, 5)) == -150
    assert american_from_probability(Fraction(10, 23)) == 130
    assert american_from_probability(Fraction(1, 2)) == -100
    for odds in (-400, -150, -105, 105, 250, 900):
        assert american_from_probability(implied_probability(odds)) == odds


def test_multiplicative_and_additive_by_hand() -> None:
    probs = [Fraction(3, 5), Fraction(10, 23)]  # sum 119/115, overround 4/115
    assert devig_multiplicative(probs) == [Fraction(69, 119), Fraction(50, 119)]
    assert devig_additive(probs) == [Fraction(67, 115), Fraction(48, 115)]
    assert devig_ppm(probs, "multiplicative") == [579_832, 420_168]
    assert devig_ppm(probs, "additive") == [582_609, 417_391]


def test_power_and_shin() -> None:
    probs = [Fraction(3, 5), Fraction(10, 23)]
    power = devig_ppm(probs, "power")
    assert abs(sum(power) - 1_000_000) <= 1
    # the power method takes more margin from the long shot than multiplicative does
    assert power[0] > 579_832
    # for a two-way market Shin's method gives exactly the additive split
    assert devig_ppm(probs, "shin") == devig_ppm(probs, "additive")
    assert devig_ppm([Fraction(11, 21)] * 2, "shin") == [500_000, 500_000]
    assert devig_ppm([Fraction(11, 21)] * 2, "power") == [500_000, 500_000]
    three = devig_ppm([Fraction(1, 2), Fraction(3, 10), Fraction(3, 10)], "shin")
    assert abs(sum(three) - 1_000_000) <= 2 and three[1] == three[2]


def _q(vendor: str, market: str, a: int, b: int, line: int | None = None, ts: int = 0) -> OddsQuote:
    if market == "total":
        return OddsQuote(1, vendor, market, None, None, line, a, b, ts, ts)
    return OddsQuote(1, vendor, market, a, b, line, None, None, ts, ts)


def test_consensus_excludes_prediction_markets() -> None:
    assert not is_sportsbook("kalshi") and not is_sportsbook("Polymarket")
    assert is_sportsbook("draftkings")
    quotes = [
        _q("draftkings", "moneyline", -110, -110),
        _q("fanduel", "moneyline", -150, 130),
        _q("kalshi", "moneyline", -300, 250),
        _q("polymarket", "moneyline", -400, 300),
        _q("fanduel", "moneyline", -999, 600, ts=-1),  # older than the fanduel quote above
    ]
    (c,) = consensus(quotes)
    assert c.market == "moneyline" and c.line_tenths is None
    assert c.books == ("draftkings", "fanduel")
    assert c.fair_ppm == (500_000 + 579_832) // 2  # 539_916


def test_consensus_per_market_type_at_the_median_line() -> None:
    quotes = [
        _q("draftkings", "spread", -110, -110, -55),
        _q("fanduel", "spread", -120, 100, -55),
        _q("caesars", "spread", -110, -110, -65),
        _q("draftkings", "total", -105, -115, 2275),
    ]
    by_market = {c.market: c for c in consensus(quotes)}
    assert set(by_market) == {"spread", "total"}
    spread = by_market["spread"]
    assert spread.line_tenths == -55 and spread.books == ("draftkings", "fanduel")
    # fanduel: 6/11 and 1/2 -> 12/23 = 0.5217391; draftkings 1/2
    assert quote_fair_ppm(quotes[1]) == 521_739
    assert spread.fair_ppm == (500_000 + 521_739 + 1) // 2
    # over -105 / under -115: (21/41) / (21/41 + 23/43) = 903/1846 = 0.4891658
    assert by_market["total"].fair_ppm == 489_166 and by_market["total"].line_tenths == 2275
