"""Legal holds over the staff console routes (AdminFunction, in-process, against the embedded AWS)."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import bearer, items, verify

pytestmark = pytest.mark.integration

HOLDS = "/v1/admin/subjects/{subject_id}/holds"


@pytest.fixture
def staff(embedded_aws):
    def token(groups, sub="dpo-1"):
        return bearer(embedded_aws.staff_token(sub, groups))

    return token


def _place(call, staff, subject_id, body, groups=("dpo",)):
    return call(
        "AdminFunction",
        "POST",
        f"/v1/admin/subjects/{subject_id}/holds",
        route=HOLDS,
        body=body,
        headers=staff(list(groups)),
    )


def test_a_dpo_places_lists_and_lifts_a_hold_and_every_change_is_audited(call, outbox, staff, use_function):
    subject_id = verify(call, outbox, "held.person@example.com")["subject_id"]
    placed = _place(call, staff, subject_id, {"reason": "litigation 2026-17 (Ana Pérez v. Shop)"})
    assert placed.status == 201, placed.body
    hold = placed.body
    assert hold["status"] == "active" and hold["subject_id"] == subject_id and hold["placed_by"] == "dpo-1"

    listed = call("AdminFunction", "GET", f"/v1/admin/subjects/{subject_id}/holds", route=HOLDS, headers=staff(["dpo"]))
    assert listed.status == 200 and listed.body["held"] is True
    assert [h["hold_id"] for h in listed.body["holds"]] == [hold["hold_id"]]

    use_function("AdminFunction")
    from habeas import holds

    assert holds.active_hold(subject_id)["hold_id"] == hold["hold_id"]

    lifted = call(
        "AdminFunction",
        "DELETE",
        f"/v1/admin/subjects/{subject_id}/holds/{hold['hold_id']}",
        route=HOLDS + "/{hold_id}",
        headers=staff(["dpo"]),
    )
    assert lifted.status == 200 and lifted.body["status"] == "lifted" and lifted.body["lifted_by"] == "dpo-1"
    use_function("AdminFunction")
    assert holds.active_hold(subject_id) is None

    again = call(
        "AdminFunction",
        "DELETE",
        f"/v1/admin/subjects/{subject_id}/holds/{hold['hold_id']}",
        route=HOLDS + "/{hold_id}",
        headers=staff(["dpo"]),
    )
    assert again.status == 409

    audit = call("AdminFunction", "GET", "/v1/admin/audit", query={"subject_id": subject_id}, headers=staff(["dpo"]))
    actions = [event["action"] for event in audit.body["events"]]
    assert "hold.placed" in actions and "hold.lifted" in actions and audit.body["chain_ok"] is True
    # The reason may name people: only its hash reaches the audit log.
    assert "Pérez" not in json.dumps(audit.body) and "litigation" not in json.dumps(audit.body)


@pytest.mark.parametrize("groups", [["agent"], ["supervisor"]])
def test_only_a_dpo_may_place_or_read_holds_and_a_refusal_writes_nothing(call, outbox, staff, embedded_aws, groups):
    subject_id = verify(call, outbox, f"{groups[0]}.hold@example.com")["subject_id"]
    before = [h for h in items(embedded_aws, "SUBJECTS_TABLE") if h["subject_id"] == subject_id]
    assert _place(call, staff, subject_id, {"reason": "x"}, groups=groups).status == 403
    listed = call("AdminFunction", "GET", f"/v1/admin/subjects/{subject_id}/holds", route=HOLDS, headers=staff(groups))
    assert listed.status == 403
    held = call("AdminFunction", "GET", f"/v1/admin/subjects/{subject_id}/holds", route=HOLDS, headers=staff(["dpo"]))
    assert held.body["holds"] == [] and before


def test_unknown_subject_or_hold_is_404_and_bad_bodies_are_422(call, outbox, staff):
    assert _place(call, staff, "sub_nobody", {"reason": "case"}).status == 404
    listed = call("AdminFunction", "GET", "/v1/admin/subjects/sub_nobody/holds", route=HOLDS, headers=staff(["dpo"]))
    assert listed.status == 404
    subject_id = verify(call, outbox, "hold.bodies@example.com")["subject_id"]
    assert _place(call, staff, subject_id, {"reason": ""}).status == 422
    assert _place(call, staff, subject_id, {"reason": 7}).status == 422
    assert _place(call, staff, subject_id, {"reason": "case", "until": "yesterday"}).status == 422
    assert _place(call, staff, subject_id, {"reason": "case", "until": "2001-01-01T00:00:00Z"}).status == 422
    missing = call(
        "AdminFunction",
        "DELETE",
        f"/v1/admin/subjects/{subject_id}/holds/hold_nope",
        route=HOLDS + "/{hold_id}",
        headers=staff(["dpo"]),
    )
    assert missing.status == 404
    listed = call("AdminFunction", "GET", f"/v1/admin/subjects/{subject_id}/holds", route=HOLDS, headers=staff(["dpo"]))
    assert listed.body == {"holds": [], "held": False}


def test_a_hold_with_until_lapses_by_itself(call, outbox, staff, use_function, monkeypatch):
    subject_id = verify(call, outbox, "lapsing.hold@example.com")["subject_id"]
    placed = _place(call, staff, subject_id, {"reason": "audit", "until": "2999-01-01T00:00:00+02:00"})
    assert placed.status == 201 and placed.body["until"] == "2998-12-31T22:00:00.000Z"
    use_function("AdminFunction")
    from datetime import UTC, datetime

    from habeas import clock, holds

    assert holds.active_hold(subject_id) is not None
    monkeypatch.setattr(clock, "now", lambda: datetime(2999, 1, 2, tzinfo=UTC))
    assert holds.active_hold(subject_id) is None
