"""ChatRights with fakes: what each intent does, and that erasure never starts without a live "yes"."""

import pytest

from habeas import audit
from habeas.channels.rights import ChatContext, ChatRights, Reply

pytestmark = pytest.mark.unit


class MemoryPending:
    def __init__(self):
        self.open = {}

    def put(self, subject_id, platform):
        self.open[subject_id] = platform

    def take(self, subject_id, platform):
        if self.open.get(subject_id) != platform:
            return False
        del self.open[subject_id]
        return True


@pytest.fixture
def calls():
    return {"consent": [], "start": [], "audit": []}


@pytest.fixture
def rights(calls):
    return ChatRights(
        pending=MemoryPending(),
        record_consent=lambda *a, **kw: calls["consent"].append((a, kw)),
        start=lambda *a: calls["start"].append(a),
        record_audit=lambda actor, event: calls["audit"].append((actor.role, event.action, event.detail)),
    )


def chat(platform="whatsapp", region="BR"):
    return ChatContext("sub_1", platform, region, audit.Actor(id=f"channel:{platform}", role="channel"))


def test_opt_out_withdraws_marketing_at_its_current_version_on_the_channel(rights, calls):
    assert rights.handle(chat("instagram", None), "STOP") == Reply("opt_out_done", "en")
    [(args, kwargs)] = calls["consent"]
    assert args == ("sub_1", "marketing")
    assert kwargs["granted"] is False and kwargs["channel"] == "instagram" and kwargs["policy_version"] == "2026-01"
    assert kwargs["actor"].role == "channel"


def test_erasure_asks_first_and_starts_only_on_yes_in_the_same_chat(rights, calls):
    assert rights.handle(chat(), "apagar meus dados") == Reply("erasure_confirm", "pt")
    assert calls["start"] == [] and calls["audit"][0][1] == "request.requested_from_chat"
    assert rights.handle(chat("instagram"), "sim") is None  # another chat cannot confirm
    assert rights.handle(chat(), "SIM") == Reply("erasure_received", "pt")
    assert calls["start"] == [("sub_1", "erasure", "whatsapp")]
    assert rights.handle(chat(), "sim") is None  # nothing pending any more


def test_access_starts_at_once(rights, calls):
    assert rights.handle(chat(region="ES"), "quiero mis datos") == Reply("access_received", "es")
    assert calls["start"] == [("sub_1", "access", "whatsapp")]


def test_ordinary_text_does_nothing(rights, calls):
    assert rights.handle(chat(), "bom dia") is None
    assert calls == {"consent": [], "start": [], "audit": []}
