"""The OpenAPI document of the whole HTTP API, generated from the routers (``make openapi``)."""

from __future__ import annotations

import json

from habeas.apps import ADMIN_ROUTERS, API_ROUTERS, build
from habeas.routes.channels import CHANNEL_ROUTERS

TITLE = "Habeas"
VERSION = "1.0.0"


def document() -> dict:
    """The OpenAPI document, as a dict, for every route of every function."""
    app = build(API_ROUTERS, ADMIN_ROUTERS, CHANNEL_ROUTERS)
    return json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            summary="Data-subject-rights backend: consent, verified subjects, requests, audit",
        )
    )


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
