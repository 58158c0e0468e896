"""LocalRuntime: the embedded AWS, one worker per function, the HTTP API and the event sources."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from habeas_local.aws import STAFF_TOKEN_TTL, EmbeddedAws
from habeas_local.functions import FunctionError, FunctionPool
from habeas_local.gateway import Gateway, Route, _json, _problem
from habeas_local.outbox import Outbox
from habeas_local.sources import Schedule, Source, SqsPoller, StreamPoller, TtlLedger, TtlReaper

log = logging.getLogger("habeas_local")


class LocalRuntime:
    """Everything ``make run`` serves, usable from tests as a context manager.

    ``port``: ``None`` reads ``HABEAS_PORT`` (default 3000), ``0`` picks a free port.
    ``params``: template parameter overrides (after ``HABEAS_PARAM_<Name>`` variables).
    ``event_sources``: start the SQS, stream and schedule pollers (``invoke`` works regardless).
    ``warm``: start the HTTP-routed functions' workers at startup.
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        params: dict[str, str] | None = None,
        stack_name: str = "habeas",
        event_sources: bool = True,
        warm: bool = True,
        ttl_reap_seconds: float | None = None,
    ) -> None:
        self.aws = EmbeddedAws(template_path, params=params, stack_name=stack_name, host=host)
        self.host = host
        self.port = int(os.environ.get("HABEAS_PORT", "3000")) if port is None else port
        self.event_sources = event_sources
        self.warm = warm
        self.ttl_reap_seconds = (
            float(os.environ.get("HABEAS_TTL_REAP_SECONDS", "5")) if ttl_reap_seconds is None else ttl_reap_seconds
        )
        self.url = ""
        self.functions: FunctionPool
        self.gateway: Gateway
        self.outbox: Outbox
        self.ttl_ledger = TtlLedger()
        self.sources: list[Source] = []
        self.schedules: dict[str, list[Schedule]] = {}
        self.reaper: TtlReaper | None = None
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def moto_url(self) -> str:
        """The embedded AWS endpoint (what functions get as AWS_ENDPOINT_URL)."""
        return self.aws.moto_url

    def start(self) -> LocalRuntime:
        """Create everything and start serving; returns once the HTTP API accepts requests."""
        try:
            self.aws.start()
            self.outbox = Outbox(self.aws.account_id, self.aws.region)
            self.functions = FunctionPool(self.aws)
            self.gateway = Gateway(self)
            self._server = make_server(self.host, self.port, self.gateway, threaded=True)
            self.port = self._server.server_port
            self.url = f"http://{self.host}:{self.port}"
            self.aws.api_endpoint = self.url
            # Channel replies go to the runtime's capture of the Graph API unless told otherwise.
            if "GraphApiBaseUrl" in self.aws.parameters and "GraphApiBaseUrl" not in self.aws.overridden_parameters:
                self.aws.parameters["GraphApiBaseUrl"] = f"{self.url}/local/graph/v21.0"
            if self.warm:
                self.functions.warm(sorted({route.function for route in self.gateway.routes}))
            self._server_thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
            self._server_thread.start()
            self._build_sources()
            if self.event_sources:
                for source in self.sources:
                    source.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop pollers, the HTTP server, workers and moto, in that order."""
        for source in self.sources:
            source.stop()
        for source in self.sources:
            if source.is_alive():
                source.join(timeout=15)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
        if hasattr(self, "functions"):
            self.functions.stop()
        self.aws.stop()

    def _build_sources(self) -> None:
        assert self.aws.template is not None
        for logical_id, spec in self.aws.template.functions.items():
            for event_name, event in spec.events.items():
                kind, properties = event.get("Type"), event.get("Properties") or {}
                if kind == "SQS":
                    self.sources.append(SqsPoller(self.aws, self._invoke, logical_id, event_name, properties))
                elif kind == "DynamoDB":
                    self.sources.append(
                        StreamPoller(self.aws, self._invoke, logical_id, event_name, properties, self.ttl_ledger)
                    )
                elif kind in ("Schedule", "ScheduleV2"):
                    schedule = Schedule(self.aws, self._invoke, logical_id, event_name, kind, properties)
                    self.schedules.setdefault(logical_id, []).append(schedule)
                    self.sources.append(schedule)
                elif kind not in ("HttpApi",):
                    log.warning("%s.%s: event source type %s is not emulated", logical_id, event_name, kind)
        if self.ttl_reap_seconds > 0:
            self.reaper = TtlReaper(self.aws, self.ttl_ledger, self.ttl_reap_seconds)
            self.sources.append(self.reaper)

    # ------------------------------------------------------------------ functions
    def function_env(self, logical_id: str) -> dict[str, str]:
        """The template's resolved environment variables of a function."""
        return self.aws.function_env(logical_id)

    def _invoke(self, logical_id: str, event: Any):
        invocation = self.functions.invoke(logical_id, event)
        self.observe_outbox()
        return invocation

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function synchronously; its result, or FunctionError."""
        invocation = self._invoke(logical_id, event)
        if not invocation.ok:
            raise FunctionError(logical_id, invocation.error_type or "Error", invocation.error_message or "")
        return invocation.result

    def fire_schedule(self, logical_id: str, event_name: str | None = None) -> Any:
        """Fire a function's schedule now (its first, or the named event); the handler result."""
        candidates = [s for s in self.schedules.get(logical_id, []) if event_name in (None, s.event_name)]
        if not candidates:
            raise KeyError(f"{logical_id} has no schedule{' ' + event_name if event_name else ''}")
        invocation = candidates[0].fire()
        if not invocation.ok:
            raise FunctionError(logical_id, invocation.error_type or "Error", invocation.error_message or "")
        return invocation.result

    def observe_outbox(self) -> None:
        """Stamp messages sent by the invocation that just ended."""
        if hasattr(self, "outbox"):
            self.outbox.observe()

    @property
    def routes(self) -> list[Route]:
        """The HTTP routes served, most specific first."""
        return self.gateway.routes

    # ------------------------------------------------------------------ staff tokens
    def jwks_url(self, issuer: str) -> str:
        """Where the embedded AWS serves a Cognito issuer's keys (see EmbeddedAws.jwks_url)."""
        return self.aws.jwks_url(issuer)

    def issue_staff_token(
        self, sub: str, groups: list[str], email: str | None = None, expires_in: int = STAFF_TOKEN_TTL
    ) -> str:
        """What the template's user pool would issue to a member of staff (see EmbeddedAws.staff_token)."""
        return self.aws.staff_token(sub, groups, email=email, expires_in=expires_in)

    # ------------------------------------------------------------------ /local/ endpoints
    def local_endpoint(self, request: Request) -> Response:
        """Serve the runtime's own routes (never in the template)."""
        path = request.path[len("/local/") :]
        if path == "outbox":
            if request.method != "GET":
                return _problem(405, "Method Not Allowed", "use GET")
            return _json(200, {"messages": self.outbox.messages()})
        if path == "staff-tokens":
            if request.method != "POST":
                return _problem(405, "Method Not Allowed", "use POST")
            return self._staff_token_endpoint(request)
        if path.startswith("graph/"):
            if request.method != "POST":
                return _problem(405, "Method Not Allowed", "use POST")
            return self._graph_endpoint(request, path[len("graph/") :])
        if path.startswith("schedules/"):
            if request.method != "POST":
                return _problem(405, "Method Not Allowed", "use POST")
            logical_id, _, event_name = path[len("schedules/") :].partition("/")
            try:
                result = self.fire_schedule(logical_id, event_name or None)
            except KeyError as error:
                return _problem(404, "Not Found", str(error.args[0]))
            except FunctionError as error:
                return _json(502, {"message": "Internal Server Error", "errorType": error.error_type})
            return _json(200, result)
        return _json(404, {"message": "Not Found"})

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
        except ValueError:
            return _problem(400, "Bad Request", "the body is not valid JSON")
        if not isinstance(body, dict):
            return _problem(400, "Bad Request", "the body must be a JSON object")
        return body

    def _staff_token_endpoint(self, request: Request) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        sub, groups = body.get("sub"), body.get("groups", [])
        email, expires_in = body.get("email"), body.get("expires_in", STAFF_TOKEN_TTL)
        unknown = set(body) - {"sub", "groups", "email", "expires_in"}
        problems = []
        if not isinstance(sub, str) or not sub.strip():
            problems.append("sub must be a non-empty string")
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            problems.append("groups must be a list of group names")
        if email is not None and not isinstance(email, str):
            problems.append("email must be a string")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= 86400:
            problems.append("expires_in must be an integer number of seconds (1-86400)")
        if unknown:
            problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
        if problems:
            return _problem(422, "Unprocessable Content", "; ".join(problems))
        token = self.issue_staff_token(sub, groups, email, expires_in)
        return _json(200, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in})

    def _graph_endpoint(self, request: Request, path: str) -> Response:
        """Capture a Graph API send (WhatsApp Cloud API or Instagram Messaging) into the outbox."""
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        if body.get("messaging_product") == "whatsapp":
            to = str(body.get("to", ""))
            text = (body.get("text") or {}).get("body") if isinstance(body.get("text"), dict) else None
            channel = "whatsapp"
        else:
            recipient, message = body.get("recipient"), body.get("message")
            to = str(recipient.get("id", "")) if isinstance(recipient, dict) else ""
            text = message.get("text") if isinstance(message, dict) else None
            channel = "instagram"
        if not to or not isinstance(text, str):
            return _problem(422, "Unprocessable Content", "expected a WhatsApp or Instagram text message send")
        self.outbox.capture(to, channel, text)
        message_id = f"{'wamid' if channel == 'whatsapp' else 'mid'}.{secrets.token_hex(16)}"
        if channel == "whatsapp":  # the Graph API's own answer shapes
            answer = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        else:
            answer = {"recipient_id": to, "message_id": message_id}
        return _json(200, answer)
