"""Data-subject request routes (subject token): file a request, list them, read one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from habeas import audit, http
from habeas.requests import service

router = APIGatewayHttpRouter()

StoreState = Literal["pending", "done", "failed", "not_applicable"]
Status = Literal["received", "in_progress", "completed", "failed", "rejected"]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: service.RequestType
    regulation: service.Regulation | None = Field(None, description="Default: the deployment's regulation")
    changes: dict[str, str] | None = Field(
        None, max_length=20, description="Rectification only (and required there): field name -> new value"
    )


class RequestAccepted(BaseModel):
    request_id: str
    type: service.RequestType
    status: Status
    due_at: str


class Certificate(BaseModel):
    payload: str = Field(description="Canonical JSON that was signed")
    signature: str = Field(description="Base64 DER ECDSA signature (ECDSA_SHA_256) over the payload's UTF-8 bytes")
    key_id: str
    signing_algorithm: Literal["ECDSA_SHA_256"]
    public_key_pem: str


class RequestView(BaseModel):
    request_id: str
    type: service.RequestType
    status: Status
    regulation: service.Regulation
    created_at: str
    due_at: str
    completed_at: str | None = None
    stores: dict[str, StoreState]
    status_reason: str | None = None
    fields: list[str] | None = None
    export_url: str | None = Field(None, description="Completed access/portability: valid 15 minutes")
    export_files: dict[str, str] | None = Field(None, description="Portability: one CSV per store")
    certificate: Certificate | None = Field(None, description="Completed erasure: the signed certificate")


class RequestList(BaseModel):
    requests: list[RequestView]


def _subject() -> str:
    # Set by the function's authenticator before routing (see habeas.apps).
    return str(router.context["subject_id"])


def _shown(view: dict[str, Any]) -> dict[str, Any]:
    # Links and reasons appear only when they exist; the contract's fields always do.
    return RequestView(**view).model_dump(mode="json", exclude_none=True) | {"completed_at": view.get("completed_at")}


@router.post("", summary="File an access, portability, rectification or erasure request")
def create_request(body: Annotated[RequestBody, Body()]) -> Response[RequestAccepted]:
    subject_id = _subject()
    actor = audit.Actor(
        id=subject_id, role="subject", source_ip=http.source_ip(router), request_id=http.request_id(router)
    )
    accepted = service.create_request(
        subject_id,
        body.type,
        actor=actor,
        regulation=body.regulation,
        changes=body.changes,
        idempotency_key=http.header(router, "idempotency-key"),
    )
    return Response(202, "application/json", RequestAccepted(**accepted))


# These two answers leave out links and reasons that do not apply (rather than sending nulls), so the
# schema is declared with ``responses`` and the body is the model's dump without its None fields.
@router.get(
    "",
    summary="The subject's own requests, newest first",
    responses={200: {"description": "Own requests", "content": {"application/json": {"model": RequestList}}}},
)
def list_requests() -> Response[dict[str, Any]]:
    views = [_shown(view) for view in service.list_requests(_subject())]
    return Response(200, "application/json", {"requests": views})


@router.get(
    "/<request_id>",
    summary="One request: per-store progress, export link or erasure certificate",
    responses={200: {"description": "The request", "content": {"application/json": {"model": RequestView}}}},
)
def get_request(request_id: Annotated[str, Path(max_length=64)]) -> Response[dict[str, Any]]:
    return Response(200, "application/json", _shown(service.get_request(_subject(), request_id)))
