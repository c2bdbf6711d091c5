"""Every answer the test suite gets is checked against the OpenAPI document:
a 2xx status must be one the operation lists and its JSON body must match the
operation's closed schema (the API client of tests/support/client.py calls
``problem``); an error body must be the ``Error`` envelope. The document is
built once per run from the routes, as ``/api/schema/`` serves it. Schemathesis does the same with generated input
(tests/api/test_openapi_fuzz.py); this does it with the suite's realistic data.
"""
from __future__ import annotations

import functools
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


@functools.cache
def _document() -> dict:
    from handlers.core.openapi import build_openapi
    from handlers.core.routing import all_routes

    return build_openapi(all_routes())


@functools.cache
def _operations() -> list[tuple[re.Pattern, dict]]:
    ops = []
    for path, item in _document()["paths"].items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path.rstrip("/")))
        ops.append((re.compile(rf"^{pattern}/?$"), item))
    # Fixed segments before parameters: /api/products/search/ is not /api/products/{id}/.
    ops.sort(key=lambda entry: entry[0].pattern.count("[^/]+"))
    return ops


def _operation(method: str, path: str) -> dict | None:
    path = path.split("?", 1)[0]
    if path.startswith("/api/v1/"):
        path = "/api/" + path[len("/api/v1/"):]
    for regex, item in _operations():
        if regex.match(path):
            return item.get(method.lower())
    return None


@functools.cache
def _validator(key: str) -> Draft202012Validator:
    if key == "Error":
        schema = {"$ref": "#/components/schemas/Error"}
    else:
        method, path, status = key.split(" ")
        op = _operation(method, path)
        assert op is not None
        schema = op["responses"][status]["content"]["application/json"]["schema"]
    return Draft202012Validator({"allOf": [schema], "components": _document()["components"]})


def problem(method: str, path: str, status: int, content_type: str, body: Any) -> str | None:
    """What is wrong with this answer according to the document, or None."""
    if not path.startswith("/api/") or path.startswith(("/api/docs", "/api/schema")):
        return None
    op = _operation(method, path)
    if op is None:
        return None  # an undocumented method: 404/405, answered in the Error envelope
    response = op["responses"].get(str(status))
    if response is None and status >= 400:
        # Statuses the transport answers for any operation (405, 413, 431…): the Error envelope.
        response = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if response is None:
        return f"{method} {path}: status {status} is not documented (documented: {sorted(op['responses'])})"
    if status == 204 or not content_type.startswith("application/json"):
        return None
    if "application/json" not in response.get("content", {}):
        return f"{method} {path}: {status} answered JSON where the document says {sorted(response.get('content', {}))}"
    template = next(p for p, item in _document()["paths"].items() if item.get(method.lower()) is op)
    key = f"{method} {template} {status}" if str(status) in op["responses"] else "Error"
    error = best_match(_validator(key).iter_errors(body))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{method} {path} {status}: at '{where}': {error.message[:400]}"
