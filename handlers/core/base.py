"""The one base handler: JSON in and out, the error envelope, JWT auth, roles,
rate limits, CORS and pagination. Resource handlers stay thin: parse, call one
action, reply. Its helpers sit beside it: routing, validation, encoding,
``@api`` (openapi), fields, idempotency.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import math
import os
import re
from typing import Any, Callable
from urllib.parse import urlencode

import orjson
import peewee
import redis.exceptions
import tornado.httputil
import tornado.web
from pydantic import BaseModel

import settings
from handlers.core.encoding import dumps
from handlers.core.fields import ascii_digits
from handlers.core.validation import MAX_ID, MAX_PATH_PARAM, check_json, check_text, input_names, validate
from models.accounts import guests as guest_accounts
from models.accounts import sessions, tokens
from models.core import ratelimit
from models.core.db import CONNECTION_ERRORS, RideAlong, connection_lost
from models.core.errors import AppError, Forbidden, NotFound, RateLimited, Unauthorized, ValidationFailed

log = logging.getLogger("avantlush.http")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# --- the handler -----------------------------------------------------------

PUBLIC, USER, ADMIN = None, "user", "admin"
CART_TOKEN_HEADER = "X-Cart-Token"

_DB_ERRORS = CONNECTION_ERRORS
_REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_UNSAFE_REQUEST_ID = re.compile(r"[^A-Za-z0-9._:/+=-]")  # what may be echoed in a header


_UNSAFE_MEDIA = re.compile(r"[^a-z0-9!#$&^_.+/-]")  # what of a Content-Type may be echoed


class UnsupportedMediaType(AppError):
    """A JSON operation's body sent as another media type."""

    status = 415
    message = "Unsupported media type."


# HTML pages (email previews, docs): nothing from elsewhere, no framing.
HTML_CSP = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
MAX_OFFSET = 2 ** 31 - 1  # no list holds more rows than a SERIAL id can count


class BaseHandler(tornado.web.RequestHandler):
    """Every API handler's base (see the module docstring).

    Ride-along reads: a method whose one hot read depends only on who is
    asking names it in ``reads`` (method → ``models.core.db.RideAlong``, supplied
    by the domain). ``prepare()`` then runs that read in the same statement
    as the user lookup (``models.accounts.sessions.user_with_read``): one round trip
    instead of two, with exactly the checks of ``user_for_claims``. The rows
    reach the handler as ``self.read_rows`` only once the token is accepted
    and the method's role check passed (a refused token is 401, a non-staff
    one on an admin method 403, as without a read, and the rows are dropped);
    ``read_rows`` is None when no read ran (no token), and the handler passes
    it to the domain, which then reads for itself. Only reads that are harmless
    to run for any validly signed token belong here: never a write.
    """

    # Role needed per method; ``role`` is the default for methods not listed.
    role: str | None = PUBLIC
    roles: dict[str, str | None] = {}
    # Reads that ride along with the user lookup, per method (see above).
    reads: dict[str, RideAlong] = {}
    # Credential endpoints name their own strict bucket (models.core.ratelimit.CREDENTIAL_GROUPS):
    # their POSTs count there per client, whether or not a bearer token is sent.
    rate_scope: str | None = None
    # Methods needing a signed-in user that a guest may call too, with its cart
    # token in the X-Cart-Token header (cart, checkout): the guest is then the
    # current user (models/accounts/guests.py), rate-limited in its own bucket.
    guest_ok: bool = False
    # Content-Security-Policy of HTML responses (a page with its own needs may widen it).
    content_security_policy: str = HTML_CSP
    default_page_size = 12
    # The 404 message for an id in the path that no row can have.
    not_found_message = "Not found."
    # Extra keys some endpoints document on their 401 body (e.g. ``valid: false``).
    error_extra: dict[str, Any] = {}

    current_user: Any
    read_rows: list[tuple] | None = None

    def initialize(self, **kwargs: Any) -> None:
        self.route_kwargs = kwargs
        # Tornado parses form and multipart bodies before prepare(); defer that
        # until authentication and roles are decided (see _read_form_body).
        self.request._parse_body = _no_parse

    # -- lifecycle --
    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Server", "AvantLush")  # not Tornado's name and version
        origin = self.request.headers.get("Origin")
        allowed = settings.CORS_ALLOWED_ORIGINS
        if origin and ("*" in allowed or origin in allowed):
            self.set_header("Access-Control-Allow-Origin", origin if "*" not in allowed else "*")
            self.set_header("Access-Control-Expose-Headers",
                            "Retry-After, X-Request-ID, Content-Disposition, Idempotent-Replayed")
            self.set_header("Vary", "Origin")
        # Here rather than in prepare(): send_error() clears the headers and calls
        # this again, so error responses (the ones worth tracing) keep the id too.
        if not hasattr(self, "request_id"):
            rid = self.request.headers.get("X-Request-ID")
            rid = _UNSAFE_REQUEST_ID.sub("", rid)[:64] if rid else ""
            self.request_id = rid or os.urandom(8).hex()
        self.set_header("X-Request-ID", self.request_id)

    async def prepare(self) -> None:
        request_id_var.set(self.request_id)
        self._current_user = None
        if self.request.method == "OPTIONS":
            return
        if self.request.method not in _methods_of(type(self)):
            # 405 for everyone, before authenticating: no token changes what a path offers.
            raise tornado.web.HTTPError(405)
        if self.rate_scope and self.request.method == "POST":
            # A credential endpoint: its own strict bucket per client, and the
            # Authorization header is not even looked at, so no token (valid or
            # not) can move these requests into a roomier bucket.
            await ratelimit.hit(self.rate_scope, self.client_bucket())
            return
        needed = self.roles.get(self.request.method, self.role)
        try:
            claims = self._token_claims()
        except Unauthorized:
            await ratelimit.hit("anon", self.client_bucket())  # bad tokens cost the sender too
            if needed is not None:
                raise
            claims = None
            self._answer_as_anonymous()
        await self._rate_limit(claims)
        rows = None
        if claims is not None:
            read = self.reads.get(self.request.method)
            try:
                if read is None:
                    self._current_user = await sessions.user_for_claims(claims)
                else:
                    self._current_user, rows = await sessions.user_with_read(claims, read)
            except Unauthorized:
                if needed is not None:
                    raise
                self._answer_as_anonymous()
        if needed == USER and self._current_user is None and claims is None and self.guest_ok:
            await self._guest()
        if needed is not None and self._current_user is None:
            raise Unauthorized()
        if needed == ADMIN and not self._current_user.is_staff:
            raise Forbidden()
        self._check_request_input()
        self.read_rows = rows  # only now: the caller is who the token says and may ask

    def cart_token(self) -> str | None:
        """A guest's cart token (header ``X-Cart-Token``), if sent."""
        return self.request.headers.get(CART_TOKEN_HEADER) or None

    async def _guest(self) -> None:
        token = self.cart_token()
        if token is None:
            return
        guest = await guest_accounts.guest_for_token(token)
        if guest is None:
            raise Unauthorized("Invalid cart token: start a guest cart with POST /api/guest/cart/.")
        await ratelimit.hit("guest", f"g{guest.id}")
        self._current_user = guest

    def _answer_as_anonymous(self) -> None:
        """An operation open to anonymous callers, sent an invalid or expired token
        (a stale one left in a single-page app): answered as for no token, with a
        hint to drop or refresh it (RFC 6750 3.1), never a 401 that breaks the page."""
        self._current_user = None
        self.set_header("WWW-Authenticate", 'Bearer realm="api", error="invalid_token"')

    def _token_claims(self) -> dict | None:
        header = self.request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Invalid authorization header.")
        return tokens.decode_token(token.strip(), "access")

    async def _rate_limit(self, claims: dict | None) -> None:
        if claims is not None:
            await ratelimit.hit("user", f"u{claims['sub']}")
        else:
            await ratelimit.hit("anon", self.client_bucket())

    async def limit(self, group: str, ident: str) -> None:
        """Count one more request in bucket ``group`` of ``ident`` (e.g. login per email)."""
        await ratelimit.hit(group, ident)

    def client_bucket(self) -> str:
        """The rate-limit identity of the client: its IP, IPv6 per /64."""
        return ratelimit.client_bucket(self.client_ip())

    def client_ip(self) -> str:
        if settings.TRUST_PROXY:
            forwarded = self.request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return self.request.remote_ip or "unknown"

    def options(self, *args: Any, **kwargs: Any) -> None:
        """CORS preflight."""
        self.set_header("Access-Control-Allow-Methods", ", ".join(self.allowed_methods()))
        self.set_header("Access-Control-Allow-Headers",
                        self.request.headers.get("Access-Control-Request-Headers",
                                                 "Authorization, Content-Type, Idempotency-Key, X-Cart-Token"))
        self.set_header("Access-Control-Max-Age", "86400")
        self.set_status(204)
        self.finish()

    @classmethod
    def allowed_methods(cls) -> list[str]:
        return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                if getattr(cls, m.lower()) is not getattr(tornado.web.RequestHandler, m.lower())] + ["OPTIONS"]

    # -- input --
    def _check_request_input(self) -> None:
        """Input hygiene for everything but a JSON body (checked as it is read):
        path and query values, then the form or multipart body, parsed only now
        that the caller is authenticated and allowed. 400 on a NUL character."""
        for name, value in self.path_kwargs.items():
            check_text(value, name)
            if len(value) > MAX_PATH_PARAM or (value.isascii() and value.isdigit() and int(value) > MAX_ID):
                raise NotFound(self.not_found_message)  # no row has it (ids are PostgreSQL integers)
        for name, values in self.request.query_arguments.items():
            check_text(name, name)
            for value in values:
                check_text(value.decode("utf-8", "replace"), name)
        self._read_form_body()

    def _read_form_body(self) -> None:
        if self.request.method not in ("POST", "PUT", "PATCH") or not self.request.body:
            return
        ctype = self.request.headers.get("Content-Type", "")
        if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            return
        try:
            tornado.httputil.HTTPServerRequest._parse_body(self.request)
        except tornado.httputil.HTTPInputError:
            raise ValidationFailed(errors={"non_field_errors": ["The form data could not be read."]}) from None
        for name, values in self.request.body_arguments.items():
            check_text(name, name)
            for value in values:
                check_text(value.decode("utf-8", "replace"), name)
        for name, files in self.request.files.items():
            check_text(name, name)
            for upload in files:
                check_text(upload.filename, name)

    def json_body(self, check: bool = True) -> Any:
        """The JSON body; with ``check``, a NUL character anywhere in it is a 400.

        A body sent as another media type (``text/plain``, a form) is a 415, never
        read as JSON; no Content-Type at all is taken as JSON."""
        if not self.request.body:
            return {}
        ctype = self.request.headers.get("Content-Type", "")
        media = ctype.split(";", 1)[0].strip().lower()
        if media and media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise UnsupportedMediaType(f'Unsupported media type "{_UNSAFE_MEDIA.sub("", media)[:100]}" in request.',
                                       {"body": ["Send the body as application/json."]})
        try:
            data = orjson.loads(self.request.body)
        except orjson.JSONDecodeError:
            raise AppError("Invalid JSON in request body", {"body": ["Request body is not valid JSON."]}) from None
        if check:
            check_json(data)
        return data

    def parse(self, schema: type[BaseModel], data: Any = None) -> Any:
        """Validate the JSON body (or ``data``) against ``schema``; 400 with field errors.

        PUT and PATCH need a body (an empty one changes nothing by mistake)."""
        if data is None:
            if not self.request.body.strip() and self.request.method in ("PUT", "PATCH"):
                raise ValidationFailed(errors={"non_field_errors": ["No data provided."]})
            data = self.json_body(check=False)
        if not isinstance(data, dict):
            raise ValidationFailed(errors={"non_field_errors": ["Invalid data. Expected a dictionary."]})
        # A field the schema does not know is a 400 naming it (``In``); the ones it
        # accepts and ignores go first, so that nothing in them can matter.
        ignored = getattr(schema, "ignored_fields", ())
        data = {k: v for k, v in data.items() if k not in ignored}
        check_json(data)
        return validate(schema, data)

    def query(self, schema: type[BaseModel]) -> Any:
        """Validate the query string against ``schema``: parameters it does not
        read are left alone (cache busters, tracking tags)."""
        names = input_names(schema)
        data = {k: v[-1].decode("utf-8", "replace") for k, v in self.request.query_arguments.items() if k in names}
        return validate(schema, data)

    # -- output --
    def reply(self, data: Any = None, status: int = 200) -> None:
        self.set_status(status)
        if status == 204:
            self.clear_header("Content-Type")
            self.finish()
            return
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        self.finish(dumps(data))

    def base_url(self) -> str:
        """The server's public address (``BACKEND_URL``) for absolute links in
        responses: never the request's Host header, which the client chooses."""
        return settings.BACKEND_URL

    def absolute_url(self, **params: Any) -> str:
        args = {k: v[-1].decode() for k, v in self.request.query_arguments.items()}
        args.update({k: v for k, v in params.items()})
        base = f"{self.base_url()}{self.request.path}"
        return f"{base}?{urlencode(args)}"

    async def paginate(self, query: peewee.SelectQuery, serialize: Callable[[list], Any],
                       default_size: int | None = None, count: int | None = None) -> dict:
        """One page of ``query`` in the contract's envelope: two queries whatever the size.

        ``serialize`` gets the page's rows and returns the result list (it may
        fetch related rows in bulk, never per row).
        """
        page, size = self.page_params(default_size)
        total = count if count is not None else await query.aio_count(query.model._meta.database, clear_limit=True)
        if page > max(1, math.ceil(total / size)):
            raise NotFound("Invalid page.")
        rows = list(await query.paginate(page, size).aio_execute())
        results = await serialize(rows) if asyncio.iscoroutinefunction(serialize) else serialize(rows)
        return self.page_envelope(page, size, total, results)

    def page_envelope(self, page: int, size: int, count: int, results: list) -> dict:
        """The contract's page: ``{count, next, previous, results}`` with absolute links."""
        pages = max(1, math.ceil(count / size))
        return {
            "count": count,
            "next": self.absolute_url(page=page + 1) if page < pages else None,
            "previous": self.absolute_url(page=page - 1) if page > 1 else None,
            "results": results,
        }

    def page_params(self, default_size: int | None = None) -> tuple[int, int]:
        default_size = default_size or self.default_page_size
        errors: dict[str, list[str]] = {}
        try:
            page = _ascii_int(self.get_query_argument("page", "") or "1")  # blank (a form's empty field): the default
            if page < 1:
                raise ValueError
        except ValueError:
            raise NotFound("Invalid page.") from None
        try:
            size = _ascii_int(self.get_query_argument("page_size", "") or str(default_size))
            if size < 1:
                raise ValueError
        except ValueError:
            errors["page_size"] = ["A positive whole number is required."]
            raise ValidationFailed(errors=errors) from None
        size = min(size, 100)
        if (page - 1) * size > MAX_OFFSET:  # beyond the last page of any list, however long
            raise NotFound("Invalid page.")
        return page, size

    def flush(self, include_footers: bool = False) -> Any:
        if not self._headers_written and self._headers.get("Content-Type", "").startswith("text/html"):
            self.set_header("Content-Security-Policy", self.content_security_policy)
            self.set_header("X-Frame-Options", "DENY")
        return super().flush(include_footers)

    # -- errors --
    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, AppError):
            if self._finished:
                return
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        if connection_lost(e):  # a pooled connection lost with the server: the database's 503
            e = peewee.OperationalError(f"database connection lost: {e}")
        if isinstance(e, _DB_ERRORS + _REDIS_ERRORS + (asyncio.TimeoutError,)):
            log.warning("%s %s: backing service unavailable: %r", self.request.method, self.request.path, e)
            if not self._finished:
                self.send_error(503, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        extra: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        if isinstance(exc, AppError):
            message, errors, extra = exc.message, exc.errors, dict(exc.extra)
            if isinstance(exc, RateLimited):
                self.set_header("Retry-After", str(exc.retry_after))
            if isinstance(exc, Unauthorized):
                self.set_header("WWW-Authenticate", 'Bearer realm="api"')
        elif isinstance(exc, _DB_ERRORS):
            message, extra = "Service unavailable: database is not reachable", {"service": "database"}
        elif isinstance(exc, _REDIS_ERRORS):
            message, extra = "Service unavailable: redis is not reachable", {"service": "redis"}
        elif isinstance(exc, asyncio.TimeoutError):
            message = "Service unavailable: a backing service timed out"
        elif status_code == 404:
            message = "Not found."
        elif status_code == 405:
            message = f'Method "{self.request.method}" not allowed.'
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        elif status_code >= 500:
            message = "An error occurred while processing your request"
        else:
            message = self._reason
        body = error_payload(message, errors, extra)
        if status_code == 401:
            body.update(self.error_extra)
        self.finish(dumps(body))

    def log_exception(self, typ, value, tb) -> None:  # noqa: ANN001
        if isinstance(value, (AppError, tornado.web.HTTPError)):
            return
        log.error("Uncaught exception %s %s", self.request.method, self.request.uri, exc_info=(typ, value, tb))


def error_payload(message: str, errors: dict | None = None, extra: dict | None = None) -> dict:
    """The contract's error envelope (also stored for Idempotency-Key replays)."""
    body = {"status": "error", "success": False, "message": message, "errors": errors or {}}
    body.setdefault("detail", message)
    body.update(extra or {})
    return body


@functools.cache
def _methods_of(handler: type[BaseHandler]) -> frozenset[str]:
    return frozenset(handler.allowed_methods())


def _ascii_int(text: str) -> int:
    """int() of ASCII digits only (int() alone also reads "٣" and "３")."""
    text = text.strip()
    if not ascii_digits(text.removeprefix("-").removeprefix("+")):
        raise ValueError(text)
    return int(text)


def _no_parse() -> None:
    return None


class NotFoundHandler(BaseHandler):
    """Every unknown path: 404 in the envelope."""

    async def prepare(self) -> None:
        raise NotFound("Not found.")


