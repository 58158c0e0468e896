from datetime import UTC, datetime

import pytest

from habeas import incidents

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (datetime(2026, 11, 23, 9, tzinfo=UTC), 3, datetime(2026, 11, 26, 9, tzinfo=UTC)),  # Mon -> Thu
        (datetime(2026, 11, 27, 9, tzinfo=UTC), 3, datetime(2026, 12, 2, 9, tzinfo=UTC)),  # Fri -> Wed
        (datetime(2026, 11, 28, 9, tzinfo=UTC), 1, datetime(2026, 11, 30, 9, tzinfo=UTC)),  # Sat -> Mon
    ],
)
def test_business_days_skip_weekends(start, days, due):
    assert incidents.add_business_days(start, days) == due


def test_deadlines_follow_the_configured_terms(monkeypatch):
    from habeas.config import get_settings

    monkeypatch.setenv("INCIDENT_GDPR_AUTHORITY_HOURS", "48")
    monkeypatch.setenv("INCIDENT_ANPD_BUSINESS_DAYS", "2")
    get_settings.cache_clear()
    try:
        due = incidents.deadlines(datetime(2026, 11, 27, 10, tzinfo=UTC))
    finally:
        get_settings.cache_clear()
    assert due["gdpr_authority"]["due_at"] == "2026-11-29T10:00:00.000Z"
    assert due["lgpd_anpd"]["due_at"] == "2026-12-01T10:00:00.000Z"
    assert due["gdpr_subjects"]["due_at"] is None


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("pt", ["incidente de segurança", "cartão"]),
        ("es", ["incidente de seguridad", "tarjeta"]),
        ("en", ["security incident", "card"]),
    ],
)
def test_notices_are_drafted_in_the_subjects_language_with_the_categories_named(language, words):
    incident = {"what": "Stolen laptop.", "discovered_at": "2026-11-27T10:00:00.000Z", "categories": ["financial"]}
    title, text = incidents.draft(incident, language)
    assert words[0] in (title + text).lower() and words[1] in text and "Stolen laptop." in text and "2026-11-27" in text


@pytest.mark.parametrize(
    ("phone", "language"), [("+5511987654321", "pt"), ("+34612345678", "es"), ("+14155550123", "en")]
)
def test_without_a_consent_locale_the_phones_country_chooses_the_language(monkeypatch, phone, language):
    monkeypatch.setattr(incidents.consent, "current_consents", lambda _subject: [])
    assert incidents.language_of("sub_1", {"phone": phone}) == language


def test_the_latest_consent_locale_wins(monkeypatch):
    consents = [
        {"purpose": "a", "locale": "es", "recorded_at": "2026-01-01T00:00:00.000Z"},
        {"purpose": "b", "locale": "pt", "recorded_at": "2026-02-01T00:00:00.000Z"},
    ]
    monkeypatch.setattr(incidents.consent, "current_consents", lambda _subject: consents)
    assert incidents.language_of("sub_1", {"phone": "+34612345678"}) == "pt"
