"""The webhook service with in-memory receipts and queue: replays, mixed deliveries, refused items."""

import pytest

from habeas.channels.models import WhatsAppWebhook
from habeas.channels.webhook import WebhookService, receipt_key
from habeas.errors import Conflict, DeliveryFailed

pytestmark = pytest.mark.unit


class MemoryReceipts:
    def __init__(self):
        self.keys = set()

    def claim(self, platform, key):
        if (platform, key) in self.keys:
            return False
        self.keys.add((platform, key))
        return True

    def release(self, platform, key):
        self.keys.discard((platform, key))


class MemoryQueue:
    def __init__(self, refuse=()):
        self.items, self.refuse = [], set(refuse)

    def send(self, items):
        refused = [i for i in items if i.id in self.refuse]
        self.items += [i for i in items if i.id not in self.refuse]
        return refused


def delivery(*ids, statuses=()):
    messages = [
        {"from": "5511987654321", "id": i, "timestamp": "1795388400", "type": "text", "text": {"body": "oi"}}
        for i in ids
    ]
    status_list = [
        {"id": "wamid.out", "status": s, "timestamp": "1795388400", "recipient_id": "5511987654321"} for s in statuses
    ]
    value = {"messaging_product": "whatsapp", "messages": messages, "statuses": status_list}
    return WhatsAppWebhook.model_validate(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    )


@pytest.fixture
def service():
    return WebhookService(receipts=MemoryReceipts(), queue=MemoryQueue())


def test_new_messages_and_statuses_are_counted_and_queued(service):
    assert service.receive("whatsapp", delivery("a", "b", statuses=("sent", "delivered"))) == 4
    assert [i.id for i in service.queue.items] == ["a", "b", "wamid.out", "wamid.out"]


def test_a_full_replay_is_a_conflict_and_queues_nothing(service):
    service.receive("whatsapp", delivery("a", "b"))
    with pytest.raises(Conflict):
        service.receive("whatsapp", delivery("b", "a"))
    assert len(service.queue.items) == 2


def test_a_mixed_delivery_queues_only_the_new(service):
    service.receive("whatsapp", delivery("a"))
    assert service.receive("whatsapp", delivery("a", "c")) == 1
    assert [i.id for i in service.queue.items] == ["a", "c"]


def test_the_same_id_twice_in_one_delivery_is_queued_once(service):
    assert service.receive("whatsapp", delivery("a", "a")) == 1


def test_the_same_id_on_another_platform_is_not_a_replay(service):
    service.receive("whatsapp", delivery("a"))
    assert ("instagram", "a") not in service.receipts.keys


def test_an_empty_delivery_is_zero_not_a_conflict(service):
    assert service.receive("whatsapp", delivery()) == 0


def test_items_the_queue_refuses_lose_their_receipt_so_a_retry_is_accepted():
    service = WebhookService(receipts=MemoryReceipts(), queue=MemoryQueue(refuse={"b"}))
    with pytest.raises(DeliveryFailed):
        service.receive("whatsapp", delivery("a", "b"))
    assert service.receipts.keys == {("whatsapp", "a")}
    service.queue.refuse.clear()
    assert service.receive("whatsapp", delivery("a", "b")) == 1


def test_receipts_live_in_a_few_dedicated_partitions_never_a_subjects():
    keys = {receipt_key("whatsapp", f"wamid.{n}")["subject_id"] for n in range(500)}
    assert keys <= {f"RECEIPTS#{n:02d}" for n in range(16)} and len(keys) == 16
    assert receipt_key("instagram", "m")["sk"] == "RECEIPT#instagram#m"
