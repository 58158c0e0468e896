"""The staff IP allowlist: staff routes answer only callers from the configured CIDR ranges.

The caller's address is the one API Gateway saw (``requestContext.http.sourceIp``), never a header
such as ``X-Forwarded-For`` that a client can set. A malformed setting fails closed (nobody passes).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from habeas.config import get_settings
from habeas.errors import Forbidden
from habeas.observability import logger

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def networks(setting: str) -> tuple[Network, ...]:
    """The networks of a comma-separated CIDR list; ValueError naming the bad entry's position."""
    found = []
    for position, part in enumerate(p.strip() for p in setting.split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"STAFF_ALLOWED_CIDRS entry {position + 1} is not a CIDR range") from None
    return tuple(found)


def allows(source_ip: str | None, setting: str) -> bool:
    """True if ``source_ip`` lies in one of the ranges of ``setting``; False for anything unparsable."""
    if not source_ip:
        return False
    try:
        address = ipaddress.ip_address(source_ip.strip())
        ranges = networks(setting)
    except ValueError as error:
        logger.error("staff allowlist refused a request", extra={"reason": str(error)})
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:203.0.113.9 is the IPv4 caller 203.0.113.9
    return any(address.version == network.version and address in network for network in ranges)


def event_source_ip(event: dict[str, Any]) -> str | None:
    """The caller's address in a raw HTTP API event (request context only)."""
    return ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")


def check(event: dict[str, Any]) -> None:
    """Forbidden unless the event's source address is in STAFF_ALLOWED_CIDRS."""
    if not allows(event_source_ip(event), get_settings().staff_allowed_cidrs):
        raise Forbidden("requests from this network are not allowed")
