from datetime import UTC, datetime

import pytest

from habeas import alerts
from habeas.config import ConfigurationError

pytestmark = pytest.mark.unit


@pytest.fixture
def rules_file(tmp_path, monkeypatch):
    path = tmp_path / "rules.yaml"
    monkeypatch.setenv("ALERT_RULES_PATH", str(path))
    from habeas.config import get_settings

    get_settings.cache_clear()
    alerts.rules.cache_clear()
    yield path
    alerts.rules.cache_clear()
    get_settings.cache_clear()


def test_the_packaged_rules_load_with_every_rule_enabled():
    alerts.rules.cache_clear()
    loaded = alerts.rules()
    assert loaded.rules.many_subjects.lock_reveals and loaded.rules.sensitive_reveals.lock_reveals
    assert set(loaded.rules.sensitive_reveals.categories) == {"financial", "government_id"}
    assert loaded.rules.off_hours.enabled and loaded.rules.no_relationship.enabled


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), True),  # Monday 09:00 in São Paulo
        (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), False),  # Monday 06:00 there: before hours
        (datetime(2026, 11, 23, 23, 30, tzinfo=UTC), False),  # Monday 20:30 there: after hours
        (datetime(2026, 11, 22, 15, 0, tzinfo=UTC), False),  # Sunday
    ],
)
def test_working_hours_are_read_in_the_configured_time_zone(rules_file, moment, working):
    rules_file.write_text('timezone: America/Sao_Paulo\nworking_hours: {start: "07:00", end: "20:00"}\n')
    assert alerts.rules().working(moment) is working


@pytest.mark.parametrize(
    "text",
    [
        "timezone: Mars/Olympus\n",
        "working_hours: {weekdays: [0]}\n",
        "rules: {many_subjects: {max_subjects: 0}}\n",
        "rules: {crawl: {enabled: true}}\n",
    ],
)
def test_invalid_rules_fail_loudly(rules_file, text):
    rules_file.write_text(text)
    with pytest.raises(ConfigurationError):
        alerts.rules()
