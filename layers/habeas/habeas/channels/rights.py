"""Rights exercised from a chat: opt-out at once, access at once, erasure after a confirmation.

``start_request`` is the single seam to the data-subject requests service: it records the confirmed
intent in the audit log and files the request (``habeas.requests.service``), which then runs like
one filed on the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from habeas import audit, aws, clock, consent
from habeas.channels.keywords import Keywords, Language, Match, keywords
from habeas.channels.models import Platform
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.purposes import catalogue

ChatRequestType = Literal["access", "erasure"]
_PENDING_ERASURE = "PENDING#erasure"


def channel_actor(platform: Platform, request_id: str | None = None) -> audit.Actor:
    """The audit actor for anything a channel does on a subject's behalf."""
    return audit.Actor(id=f"channel:{platform}", role="channel", request_id=request_id)


def start_request(subject_id: str, type: ChatRequestType, channel: Platform) -> dict[str, Any]:  # noqa: A002
    """Start a data-subject request asked for (and, for erasure, confirmed) in a chat.

    Records the confirmed intent in the audit log, then files the request under the deployment's
    default regulation. Answers ``{"type", "status", "request_id", "due_at"}``; the caller replies in the chat.
    """
    from habeas.requests import service

    actor = channel_actor(channel)
    audit.record(
        actor,
        audit.AuditEvent(
            action="request.confirmed_from_chat",
            subject_id=subject_id,
            detail={"type": type, "channel": channel},
        ),
    )
    return service.start_from_channel(subject_id, type, actor)


class PendingConfirmations(Protocol):
    """Erasures waiting for the subject's "yes" in the same chat."""

    def put(self, subject_id: str, platform: Platform) -> None:
        """Open (or renew) a pending erasure that expires after the configured TTL."""
        ...

    def take(self, subject_id: str, platform: Platform) -> bool:
        """Close a live pending erasure of this chat; False if there is none (absent, expired, other chat)."""
        ...


class DynamoPendingConfirmations:
    """Pending confirmations as one item per subject in ConversationsTable, with a TTL."""

    def put(self, subject_id: str, platform: Platform) -> None:
        """Open (or renew) the subject's pending erasure."""
        settings = get_settings()
        expires = clock.now() + timedelta(seconds=settings.channel_confirmation_ttl_seconds)
        aws.client("dynamodb").put_item(
            TableName=settings.require("conversations_table"),
            Item=to_item(
                {
                    "subject_id": subject_id,
                    "sk": _PENDING_ERASURE,
                    "platform": platform,
                    "expires_at": int(expires.timestamp()),
                }
            ),
        )

    def take(self, subject_id: str, platform: Platform) -> bool:
        """Delete the pending erasure if it is live and from this chat (atomically: one "yes" confirms once)."""
        try:
            aws.client("dynamodb").delete_item(
                TableName=get_settings().require("conversations_table"),
                Key=to_item({"subject_id": subject_id, "sk": _PENDING_ERASURE}),
                # TTL deletion is lazy: an expired item must not confirm anything.
                ConditionExpression="#p = :p AND expires_at > :now",
                ExpressionAttributeNames={"#p": "platform"},
                ExpressionAttributeValues=to_item({":p": platform, ":now": int(clock.now().timestamp())}),
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def get(self, subject_id: str) -> dict[str, Any] | None:
        """The pending erasure item, if any (tests and the console)."""
        item = (
            aws.client("dynamodb")
            .get_item(
                TableName=get_settings().require("conversations_table"),
                Key=to_item({"subject_id": subject_id, "sk": _PENDING_ERASURE}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return from_item(item) if item else None


@dataclass(frozen=True)
class Reply:
    """A configured reply to send back in the chat."""

    name: str
    language: Language


@dataclass(frozen=True)
class ChatContext:
    """Who wrote, where from, and who acts on their behalf."""

    subject_id: str
    platform: Platform
    region: str | None
    actor: audit.Actor


@dataclass
class ChatRights:
    """Decides and performs the right a chat message asks for; returns the reply to send, if any."""

    pending: PendingConfirmations
    words: Keywords = field(default_factory=keywords)
    record_consent: Callable[..., Any] = consent.record_consent
    start: Callable[[str, ChatRequestType, Platform], Any] = start_request
    record_audit: Callable[[audit.Actor, audit.AuditEvent], Any] = audit.record

    def handle(self, chat: ChatContext, text: str | None) -> Reply | None:
        """Act on ``text`` if it asks for a right; None when it asks for nothing."""
        answer = self.words.match(text, intents=("confirm", "cancel"))
        if answer is not None:
            reply = self._answer_pending(chat, answer)
            if reply is not None:
                return reply
        wish = self.words.match(text)
        if wish is None:
            return None
        language = self.words.language_for(wish, chat.region)
        if wish.intent == "opt_out":
            return self._opt_out(chat, language)
        if wish.intent in ("erasure", "access"):
            return self._request(chat, wish.intent, language)  # type: ignore[arg-type]
        return None

    def _opt_out(self, chat: ChatContext, language: Language) -> Reply:
        for purpose_name in self.words.config.opt_out_purposes:
            purpose = catalogue().get(purpose_name)
            if purpose is None:
                continue  # a keywords.yaml naming a purpose the catalogue dropped must not block the others
            self.record_consent(
                chat.subject_id,
                purpose.purpose,
                granted=False,
                policy_version=purpose.policy_version,
                channel=chat.platform,
                locale=language,
                actor=chat.actor,
            )
        return Reply("opt_out_done", language)

    def _request(self, chat: ChatContext, kind: ChatRequestType, language: Language) -> Reply:
        confirm_first = kind == "erasure"
        self.record_audit(
            chat.actor,
            audit.AuditEvent(
                action="request.requested_from_chat",
                subject_id=chat.subject_id,
                detail={
                    "type": kind,
                    "channel": chat.platform,
                    "status": "awaiting_confirmation" if confirm_first else "confirmed",
                },
            ),
        )
        if confirm_first:
            # Erasure cannot be undone: ask in the same chat and act only on a live "yes".
            self.pending.put(chat.subject_id, chat.platform)
            return Reply("erasure_confirm", language)
        self.start(chat.subject_id, kind, chat.platform)
        return Reply(f"{kind}_received", language)

    def _answer_pending(self, chat: ChatContext, answer: Match) -> Reply | None:
        if not self.pending.take(chat.subject_id, chat.platform):
            return None  # a bare yes/no with nothing pending is just a message
        language = self.words.language_for(answer, chat.region)
        if answer.intent == "confirm":
            self.start(chat.subject_id, "erasure", chat.platform)
            return Reply("erasure_received", language)
        self.record_audit(
            chat.actor,
            audit.AuditEvent(
                action="request.cancelled_from_chat",
                subject_id=chat.subject_id,
                detail={"type": "erasure", "channel": chat.platform},
            ),
        )
        return Reply("erasure_cancelled", language)
