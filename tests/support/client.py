"""The API client of the tests and what they check answers with."""
from __future__ import annotations

from urllib.parse import urlencode

import orjson


class Response:
    def __init__(self, raw) -> None:
        self.raw = raw
        self.status = raw.code
        self.headers = raw.headers
        self.body = raw.body or b""

    def json(self):
        return orjson.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class ApiClient:
    """``await api.post("/api/x/", json={...}, user=u)`` against the test server."""

    def __init__(self, http_client, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url

    async def request(self, method: str, path: str, *, json=None, body=None, params=None, user=None,
                      token: str | None = None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        if user is not None:
            token = token_for(user)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if json is not None:
            body = orjson.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        url = self.base_url + path + (("?" + urlencode(params)) if params else "")
        raw = await self.http_client.fetch(url, method=method, body=body, headers=headers, raise_error=False,
                                           allow_nonstandard_methods=True, request_timeout=60)
        return Response(raw)

    async def get(self, path: str, **kw) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw) -> Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw) -> Response:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw) -> Response:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw) -> Response:
        return await self.request("DELETE", path, **kw)

    async def options(self, path: str, **kw) -> Response:
        return await self.request("OPTIONS", path, **kw)


def assert_envelope(resp, status: int, message: str | None = None) -> dict:
    """The response is an error of ``status`` in the contract's envelope."""
    assert resp.status == status, resp
    body = resp.json()
    assert body["status"] == "error" and body["success"] is False and isinstance(body["errors"], dict), body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    return body


def token_for(user) -> str:
    from models.accounts.tokens import access_token

    return access_token(user)


def auth_headers(user) -> dict:
    return {"Authorization": f"Bearer {token_for(user)}"}


def multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, dict]:
    """Encode ``{"photo": (filename, data, content_type)}`` as multipart/form-data."""
    boundary = "----avantlushtestboundary"
    parts = []
    for name, (filename, data, ctype) in fields.items():
        parts.append((f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                      f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def post_order(api, user, items, **extra):
    """POST /api/orders/ (the endpoint under test) and return the response."""
    return await api.post("/api/orders/", json={"items": items, **extra}, user=user)
