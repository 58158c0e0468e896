"""EventBridge schedule expressions as the local runtime reads them."""

from datetime import UTC, datetime

import pytest

from habeas_local.schedules import Cron, Rate, ScheduleError, parse

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 23, 10, 7, 30, tzinfo=UTC)  # a Monday


def test_rate_fires_every_period_counted_from_the_start():
    rate = parse("rate(5 minutes)")
    assert rate == Rate(300)
    assert rate.next_after(START, START) == datetime(2026, 11, 23, 10, 12, 30, tzinfo=UTC)
    assert parse("rate(1 hour)") == Rate(3600) and parse("rate(2 days)") == Rate(172800)


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)"])
def test_rates_eventbridge_rejects_are_rejected(expression):
    with pytest.raises(ScheduleError):
        parse(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0/15 * * * ? *)", datetime(2026, 11, 23, 10, 15, tzinfo=UTC)),
        ("cron(0 3 * * ? *)", datetime(2026, 11, 24, 3, 0, tzinfo=UTC)),
        ("cron(30 9 ? * MON-FRI *)", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
        ("cron(0 12 ? * 1 *)", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),  # 1 = Sunday
        ("cron(0 0 L * ? *)", datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
        ("cron(0 0 ? * 6L *)", datetime(2026, 11, 27, 0, 0, tzinfo=UTC)),  # last Friday
        ("cron(0 8 ? * 2#1 *)", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),  # first Monday
        ("cron(0 8 1W * ? *)", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),  # 1 Dec 2026 is a Tuesday
        ("cron(0 8 ? * FRI-MON *)", datetime(2026, 11, 27, 8, 0, tzinfo=UTC)),  # wraps over the weekend
        ("cron(0 10 1 JAN ? 2027)", datetime(2027, 1, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_cron_next_firing(expression, expected):
    assert parse(expression).next_after(START) == expected


def test_cron_in_a_timezone_fires_at_local_time():
    cron = parse("cron(0 9 * * ? *)", "Europe/Madrid")
    assert isinstance(cron, Cron)
    assert cron.next_after(START) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 CET


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 3 * * *)",
        "cron(0 3 * * * *)",
        "cron(0 3 ? * ? *)",
        "cron(61 3 * * ? *)",
        "cron(0 3 * * ? * x)",
        "every day",
    ],
)
def test_cron_expressions_eventbridge_rejects_are_rejected(expression):
    with pytest.raises(ScheduleError):
        parse(expression)
