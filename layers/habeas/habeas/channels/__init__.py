"""Messaging channels: WhatsApp and Instagram webhooks, the inbound worker, and rights from the chat.

``models`` (platform payloads, the queued item), ``signature`` (handshake and body signature),
``webhook`` (receipts and the queue), ``worker`` (subjects, redaction, storage), ``keywords`` and
``rights`` (opt-out, access and erasure asked for in a chat), ``apps`` (what the two functions run).
"""
