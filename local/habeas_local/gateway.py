"""API Gateway HTTP API, locally: the template's HttpApi routes, payload format 2.0, JWT authorizers.

Routes come from the ``HttpApi`` events of the original SAM template (Path, Method incl. ANY,
``{param}`` and ``{proxy+}``); events and responses follow the 2.0 payload format; a route with a
JWT authorizer is checked as API Gateway checks it before the function runs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jwt
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from habeas_local.runtime import LocalRuntime

log = logging.getLogger("habeas_local")

_PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway HTTP API request payload limit
_TEXT_TYPES = re.compile(r"^(text/|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded))", re.I)
# The runtime's own endpoints; never part of the template.
LOCAL_PREFIX = "/local/"


@dataclass
class JwtAuthorizer:
    """A JWT authorizer of an HttpApi, with issuer and audience resolved."""

    name: str
    issuer: str
    audience: list[str]
    identity_source: str = "$request.header.Authorization"


@dataclass
class Route:
    """One HttpApi route bound to a function."""

    method: str  # GET, POST, ..., or ANY
    path: str  # as in the template: /v1/consents/{purpose}
    function: str
    event_name: str
    authorizer: JwtAuthorizer | None = None
    scopes: list[str] = field(default_factory=list)
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.path):
            if part.startswith("{") and part.endswith("+}"):
                regex += f"(?P<{_group(part[1:-2])}>.+)"
            elif part.startswith("{"):
                regex += f"(?P<{_group(part[1:-1])}>[^/]+)"
            else:
                regex += re.escape(part)
        self.pattern = re.compile(f"^{regex}$")

    @property
    def route_key(self) -> str:
        """API Gateway's routeKey: ``METHOD /path/{param}``."""
        return f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: literal routes before parameters, greedy last, a method before ANY."""
        greedy = "+}" in self.path
        params = self.path.count("{")
        literal_segments = sum(1 for s in self.path.split("/") if s and not s.startswith("{"))
        return (int(greedy), params, -literal_segments, int(self.method == "ANY"))


def _group(name: str) -> str:
    # Regex group names must be identifiers; keep a reversible mapping for odd names.
    return "p_" + base64.b32encode(name.encode()).decode().rstrip("=")


def _ungroup(group: str) -> str:
    encoded = group[2:]
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()


def routes_from_template(runtime: LocalRuntime) -> list[Route]:
    """Every HttpApi event of every function of the SAM template, most specific first."""
    aws = runtime.aws
    assert aws.template is not None
    resources = aws.template.sam.get("Resources") or {}
    http_globals = (aws.template.sam.get("Globals") or {}).get("HttpApi") or {}
    routes = []
    for logical_id in aws.template.functions:
        events = aws.template.functions[logical_id].events
        for event_name, event in events.items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            version = str(props.get("PayloadFormatVersion", "2.0"))
            if version != "2.0":
                raise ValueError(f"{logical_id}.{event_name}: only payload format 2.0 is emulated, got {version}")
            api_ref = props.get("ApiId")
            api_id = api_ref.get("Ref") if isinstance(api_ref, dict) else None
            api = (resources.get(api_id) or {}).get("Properties") or {} if api_id else {}
            api_auth = {**(http_globals.get("Auth") or {}), **(api.get("Auth") or {})}
            route_auth = props.get("Auth") or {}
            authorizer_name = route_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
            authorizer = None
            if authorizer_name and authorizer_name != "NONE":
                config = (api_auth.get("Authorizers") or {}).get(authorizer_name)
                if config is None:
                    raise ValueError(f"{logical_id}.{event_name}: unknown authorizer {authorizer_name}")
                if "JwtConfiguration" not in config:
                    raise ValueError(f"{logical_id}.{event_name}: only JWT authorizers are emulated")
                jwt_config = aws.resolve(config["JwtConfiguration"], f"authorizer {authorizer_name}")
                audience = jwt_config.get("audience") or []
                authorizer = JwtAuthorizer(
                    name=authorizer_name,
                    issuer=str(jwt_config.get("issuer", "")),
                    audience=[str(a) for a in (audience if isinstance(audience, list) else [audience])],
                    identity_source=str(config.get("IdentitySource", "$request.header.Authorization")),
                )
            method = str(props.get("Method", "ANY")).upper()
            routes.append(
                Route(
                    method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                    path=str(props.get("Path", "$default")),
                    function=logical_id,
                    event_name=event_name,
                    authorizer=authorizer,
                    scopes=list(route_auth.get("AuthorizationScopes") or []),
                )
            )
    return sorted(routes, key=Route.specificity)


def cors_configuration(runtime: LocalRuntime) -> dict[str, Any] | None:
    """The CorsConfiguration of the template's (first) HttpApi, resolved; None if absent."""
    aws = runtime.aws
    assert aws.template is not None
    for resource in (aws.template.sam.get("Resources") or {}).values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            cors = (resource.get("Properties") or {}).get("CorsConfiguration")
            if cors:
                return aws.resolve(cors, "HttpApi CorsConfiguration")
    return None


def _gateway_claim(value: Any) -> str:
    """A claim as API Gateway hands it to the function: always a string, arrays as ``[a b]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_gateway_claim(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json(status: int, body: Any, content_type: str = "application/json", headers: dict[str, str] | None = None):
    return Response(json.dumps(body), status=status, content_type=content_type, headers=headers)


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return _json(status, body, "application/problem+json")


class Gateway:
    """The WSGI application: template routes plus the runtime's /local/ endpoints."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.routes = routes_from_template(runtime)
        self.cors = cors_configuration(runtime)
        self._jwks_clients: dict[str, jwt.PyJWKClient] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self.dispatch(request)
        except Exception:  # a bug here must not kill the server thread; API Gateway would 500
            log.exception("gateway error on %s %s", request.method, request.path)
            response = _json(500, {"message": "Internal Server Error"})
        log.info(
            "%s %s %s %.0f ms", request.method, request.path, response.status_code, (time.monotonic() - started) * 1000
        )
        return response(environ, start_response)

    # ------------------------------------------------------------------ routing
    def dispatch(self, request: Request) -> Response:
        """Route one request."""
        if request.path.startswith(LOCAL_PREFIX):
            return self.runtime.local_endpoint(request)
        if request.content_length and request.content_length > _PAYLOAD_LIMIT:
            return _json(413, {"message": "Request Entity Too Large"})
        preflight = self._preflight(request)
        if preflight is not None:
            return preflight
        for route in self.routes:
            if route.method not in ("ANY", request.method):
                continue
            match = route.pattern.match(request.path)
            if match:
                response = self._invoke_route(request, route, {_ungroup(k): v for k, v in match.groupdict().items()})
                return self._with_cors(request, response)
        return self._with_cors(request, _json(404, {"message": "Not Found"}))

    def _invoke_route(self, request: Request, route: Route, path_parameters: dict[str, str]) -> Response:
        request_id = base64.b64encode(secrets.token_bytes(12)).decode().rstrip("=")
        authorizer_context = None
        if route.authorizer is not None:
            claims = self._authorize(request, route)
            if claims is None:
                return _json(401, {"message": "Unauthorized"}, headers={"apigw-requestid": request_id})
            scope = claims.get("scope") or claims.get("scp")
            scopes = scope.split() if isinstance(scope, str) else (scope if isinstance(scope, list) else None)
            if route.scopes and not set(route.scopes) & set(scopes or []):
                return _json(403, {"message": "Forbidden"}, headers={"apigw-requestid": request_id})
            authorizer_context = {
                "jwt": {"claims": {k: _gateway_claim(v) for k, v in claims.items()}, "scopes": scopes}
            }
        event = self.build_event(request, route, path_parameters, request_id, authorizer_context)
        invocation = self.runtime.functions.invoke(route.function, event)
        self.runtime.observe_outbox()
        if not invocation.ok:
            log.warning("%s failed: %s", route.function, invocation.error_type)
            return _json(502, {"message": "Internal Server Error"}, headers={"apigw-requestid": request_id})
        response = to_http_response(invocation.result)
        response.headers["apigw-requestid"] = request_id
        return response

    # ------------------------------------------------------------------ the 2.0 event
    def build_event(
        self,
        request: Request,
        route: Route,
        path_parameters: dict[str, str],
        request_id: str,
        authorizer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The API Gateway HTTP API payload 2.0 event for ``request``."""
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            name = name.lower()
            if name == "cookie":  # 2.0 moves cookies out of the headers
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        source_ip = request.remote_addr or "127.0.0.1"  # the TCP peer; never a client-set header
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
        headers["x-forwarded-proto"] = "http"
        headers["x-forwarded-port"] = str(request.environ.get("SERVER_PORT", ""))
        headers["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        raw_query = request.query_string.decode("latin-1")
        query: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = datetime.now(UTC)
        host = headers.get("host", "127.0.0.1")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": request.path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": self.runtime.aws.account_id,
                "apiId": "local",
                "domainName": host,
                "domainPrefix": host.split(".", 1)[0],
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        body = request.get_data(cache=False)
        if body:
            content_type = headers.get("content-type", "")
            text = None
            if not content_type or _TEXT_TYPES.match(content_type):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
            if text is None:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    # ------------------------------------------------------------------ JWT authorizer
    def _authorize(self, request: Request, route: Route) -> dict[str, Any] | None:
        """The token's claims if API Gateway's JWT authorizer would accept it, else None."""
        authorizer = route.authorizer
        assert authorizer is not None
        source = authorizer.identity_source
        header = source.rsplit(".", 1)[-1] if source.startswith("$request.header.") else "Authorization"
        token = (request.headers.get(header) or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            return None
        try:
            key = self._jwks_client(authorizer.issuer).get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
                issuer=authorizer.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as error:
            log.info("authorizer %s rejected a token: %s", authorizer.name, type(error).__name__)
            return None
        # API Gateway accepts the audience in `aud` (id tokens) or `client_id` (access tokens).
        audiences = claims.get("aud") or claims.get("client_id") or []
        audiences = [audiences] if isinstance(audiences, str) else list(audiences)
        if not set(audiences) & set(authorizer.audience):
            log.info("authorizer %s rejected a token: audience", authorizer.name)
            return None
        return claims

    def _jwks_client(self, issuer: str) -> jwt.PyJWKClient:
        if issuer not in self._jwks_clients:
            self._jwks_clients[issuer] = jwt.PyJWKClient(self.runtime.jwks_url(issuer), cache_keys=True, timeout=5)
        return self._jwks_clients[issuer]

    # ------------------------------------------------------------------ CORS
    def _origin_allowed(self, origin: str) -> bool:
        allowed = (self.cors or {}).get("AllowOrigins") or []
        return "*" in allowed or origin in allowed

    def _preflight(self, request: Request) -> Response | None:
        if not self.cors or request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = request.headers.get("Origin", "")
        response = Response(status=204)
        if self._origin_allowed(origin):
            response.headers["access-control-allow-origin"] = origin if origin else "*"
            methods = self.cors.get("AllowMethods") or ["*"]
            response.headers["access-control-allow-methods"] = ",".join(methods)
            if self.cors.get("AllowHeaders"):
                response.headers["access-control-allow-headers"] = ",".join(self.cors["AllowHeaders"])
            if self.cors.get("MaxAge") is not None:
                response.headers["access-control-max-age"] = str(self.cors["MaxAge"])
            if self.cors.get("AllowCredentials"):
                response.headers["access-control-allow-credentials"] = "true"
        return response

    def _with_cors(self, request: Request, response: Response) -> Response:
        origin = request.headers.get("Origin")
        if self.cors and origin and self._origin_allowed(origin):
            # API Gateway's CORS headers replace the function's.
            response.headers["access-control-allow-origin"] = origin
            if self.cors.get("ExposeHeaders"):
                response.headers["access-control-expose-headers"] = ",".join(self.cors["ExposeHeaders"])
            if self.cors.get("AllowCredentials"):
                response.headers["access-control-allow-credentials"] = "true"
        return response


def to_http_response(result: Any) -> Response:
    """Turn a 2.0-format Lambda result into an HTTP response, as API Gateway does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # No statusCode: API Gateway treats the whole result as a JSON body with status 200.
        return _json(200, result)
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return _json(502, {"message": "Internal Server Error"})
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    response = Response(data, status=status)
    response.headers.pop("content-type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("set-cookie", cookie)
    return response
