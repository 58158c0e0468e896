"""Fixtures of the staff-console integration tests: staff tokens and a direct AdminFunction caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Answer
from tests.integration.helpers import bearer


@pytest.fixture
def staff(embedded_aws) -> Callable[..., dict[str, str]]:
    """Authorization headers of a staff token: staff(["agent"], sub="agent-1")."""

    def headers(groups: list[str], sub: str = "staff-7", **overrides: Any) -> dict[str, str]:
        return bearer(embedded_aws.staff_token(sub, groups, **overrides))

    return headers


@pytest.fixture
def admin(call) -> Callable[..., Answer]:
    """Call the AdminFunction: admin("GET", "/v1/admin/...", route=..., headers=...)."""

    def invoke(method: str, path: str, **kwargs: Any) -> Answer:
        return call("AdminFunction", method, path, **kwargs)

    return invoke
