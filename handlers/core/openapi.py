"""The OpenAPI 3.1 document: ``@api`` records each handler method's schemas
and answers, and ``build_openapi`` builds the document from the routes and
that metadata (served by handlers/docs.py at ``/api/schema/``).

What the document states comes from the code: pydantic models (with the
``Doc`` schemas of handlers/core/fields.py for types whose validators accept more
than their Python type), route parameter types, roles, and the statuses each
operation may answer.
"""
from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, Callable

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import INT_TEXT_POSITIVE, NO_NUL, PK_DOC
from handlers.core.routing import Route
from handlers.core.validation import MAX_ID, MAX_PATH_PARAM
from models.core import idempotency

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = {"$ref": "#/components/schemas/Error"}

# The first path segment after /api/ → the resource tag the operation is listed under.
TAGS = {
    "register": "auth", "verify-email": "auth", "resend-verification": "auth", "forgot-password": "auth",
    "reset-password": "auth", "profiles": "profile", "product-search": "dashboard", "review-tags": "reviews",
    "categories": "taxonomy", "tags": "taxonomy", "attribute-values": "attributes", "sizes": "taxonomy", "colors": "taxonomy",
    "preview_email": "emails", "schema": "meta", "docs": "meta", "": "meta",
}

# Every operation's tag is "<group>: <resource>"; the groups (x-tagGroups) say who calls it.
GROUPS = {
    "storefront": "The shop's pages: catalog, search, cart, wishlist, checkout, orders, reviews, support",
    "account": "Signing up and in, sessions, the customer's profile and addresses",
    "admin": "The admin dashboard: staff users only",
    "platform": "Health, this document, email previews and payment providers' webhooks",
}
ACCOUNT = {"auth", "profile", "addresses", "countries"}
PLATFORM = {"meta", "health", "emails", "webhooks"}

# Response headers, documented once (components/headers) and referred to where they are sent.
HEADERS = {
    "X-Request-ID": {"description": "This request's id (also in every log line it caused); quote it to support",
                     "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "The scheme to authenticate with: `Bearer realm=\"api\"`; on a success "
                                        "answered as anonymous because the bearer token was invalid or expired, "
                                        "`Bearer realm=\"api\", error=\"invalid_token\"` (drop or refresh the token)",
                         "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the stored first answer to an earlier request "
                                           "with the same Idempotency-Key (nothing new was created)",
                            "schema": {"type": "string", "enum": ["true"]}},
    "Content-Disposition": {"description": "`attachment; filename=…` of a file download",
                            "schema": {"type": "string"}},
    "Allow": {"description": "On a 405 (a method the path does not have): the methods it has",
              "schema": {"type": "string"}},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique string (a UUID) chosen by the client per intended action. The same key from the "
                   "same user within 24 hours answers the first request's status and body again, with "
                   "`Idempotent-Replayed: true`, and creates or charges nothing new; the same key with a "
                   "different body answers 422. Send one on every retry of a request whose answer you did not get.",
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH,
               "pattern": idempotency.KEY_PATTERN},
}


def _header(name: str) -> dict:
    return {"$ref": f"#/components/headers/{name}"}


ERROR_TEXT = {
    400: "Validation error: field errors keyed by the field sent (a NUL character in any text is one)",
    401: "Authentication credentials were not provided, or the bearer token is invalid or expired",
    403: "You do not have permission to perform this action",
    404: "Not found",
    409: "Conflict",
    415: "Unsupported media type: the body of this operation is application/json",
    422: "Unprocessable",
    429: "Request was throttled (see Retry-After)",
    503: "Service unavailable: a backing service (database, Redis) is not reachable",
}

ERROR_SCHEMA = {
    "type": "object", "required": ["status", "success", "message", "errors"],
    "properties": {
        "status": {"const": "error"}, "success": {"const": False}, "message": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "additionalProperties": True,
    "description": "Every 4xx/5xx answer. Some endpoints add keys (valid_periods, error…).",
}


def api(body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
        response: Any = None, status: int = 200, summary: str | None = None,
        content_type: str = "application/json", *, files: dict[str, str] | None = None,
        path: dict[str, dict] | None = None, errors: dict[int, str] | None = None,
        rejects: dict[int, str] | None = None, responses: dict[int, Any] | None = None,
        tag: str | None = None, idempotent: bool = False, headers: tuple[str, ...] = ()) -> Callable:
    """Record a method's request and response schemas for the OpenAPI document
    (``build_openapi`` below builds it; tell the truth here and the document does).

    ``files``: multipart file fields → description. ``path``: JSON schemas of
    path parameters beyond their route type (enums, formats). ``errors``: error
    statuses beyond the ones every operation may answer (409…) → when.
    ``rejects``: statuses answered to input the document allows (a duplicate
    name, an unknown id in the body…) → why; the schemathesis test reads them.
    ``responses``: other success statuses → their schema.
    ``idempotent``: the operation honours an ``Idempotency-Key`` header
    (handlers/core/idempotency.py). ``headers``: names (of ``HEADERS``) its
    success answers carry besides X-Request-ID.
    """

    if idempotent:  # the same key again with another body: input the document allows, answered 422
        rejects = {**(rejects or {}), 422: "an Idempotency-Key this user sent before with a different body"}

    def wrap(fn: Callable) -> Callable:
        doc = inspect.cleandoc(fn.__doc__ or "")  # dedented: the description is Markdown
        fn._api = {
            "body": body, "query": query, "response": response, "status": status,
            "summary": summary or (doc.splitlines()[0] if doc else fn.__name__),
            # The docstring after its first line: the operation's description.
            "description": "\n".join(doc.splitlines()[1:]).strip(),
            "content_type": content_type, "files": files or {}, "path": path or {},
            "errors": errors or {}, "rejects": rejects or {}, "responses": responses or {}, "tag": tag,
            "idempotent": idempotent, "headers": headers,
        }
        return fn

    return wrap


class _Models:
    """Collects the pydantic models an operation refers to; their schemas are
    generated together at the end so that names never collide."""

    def __init__(self) -> None:
        self.pending: list[tuple[type[BaseModel], str, dict]] = []
        self.request_names: set[str] = set()

    def schema(self, tp: Any, mode: str) -> dict:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            ref: dict = {}
            self.pending.append((tp, mode, ref))
            return ref
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):  # true alternatives (a customer's or a staff user's answer)
            return {"anyOf": [{"type": "null"} if a is type(None) else self.schema(a, mode) for a in args]}
        if origin is list and args:
            return {"type": "array", "items": self.schema(args[0], mode)}
        if origin is dict and len(args) == 2:
            return {"type": "object", "additionalProperties": self.schema(args[1], mode)}
        if tp is dict:
            return {"type": "object"}
        return TypeAdapter(tp).json_schema(mode=mode)

    def resolve(self) -> dict:
        keys = list(dict.fromkeys((model, mode) for model, mode, _ in self.pending))
        if not keys:
            return {}
        refs, top = models_json_schema(keys, ref_template="#/components/schemas/{model}")
        defs = top.get("$defs", {})
        # Two models of one name in different modules come out as "handlers__orders__PaymentOut":
        # a plain, unique name ("OrdersPaymentOut") instead, which code generators can use.
        renames = {name: _plain_name(name, defs) for name in defs if "__" in name}
        if renames:
            defs = {renames.get(name, name): schema for name, schema in defs.items()}
            for name in renames.values():
                defs[name]["title"] = name  # generators name classes after the title
            _rename_refs(defs, renames)
            _rename_refs(refs, renames)
        for model, mode, ref in self.pending:
            ref.update(refs[(model, mode)])
        # Schemas a request may use (bodies and what they nest): their text never holds NUL.
        self.request_names = set()
        pending = [refs[key]["$ref"].rsplit("/", 1)[-1] for key in keys if key[1] == "validation"]
        while pending:
            name = pending.pop()
            if name in self.request_names or name not in defs:
                continue
            self.request_names.add(name)
            pending += [ref.rsplit("/", 1)[-1] for ref in re.findall(r"'\$ref': '([^']+)'", str(defs[name]))]
        return defs


def _plain_name(name: str, defs: dict) -> str:
    parts = name.split("__")
    plain = "".join(p.replace("_", " ").title().replace(" ", "") for p in parts[1:-1]) + parts[-1]
    return plain if plain not in defs else name.replace("__", "_")


def _rename_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in renames:
            node["$ref"] = ref.rsplit("/", 1)[0] + "/" + renames[ref.rsplit("/", 1)[-1]]
        for value in node.values():
            _rename_refs(value, renames)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _rename_refs(value, renames)


def _tag(path: str, meta: dict, role: str | None) -> str:
    """``<group>: <resource>``: admin for staff-only operations, account for
    sign-up, sessions and the profile, platform for the API's own pages and
    providers' webhooks, storefront for the rest."""
    if meta["tag"]:
        resource = meta["tag"]
    else:
        segment = path[len("/api/"):].split("/", 1)[0] if path.startswith("/api/") else path.strip("/")
        resource = TAGS.get(segment, segment)
    group = ("admin" if role == ADMIN else "platform" if resource in PLATFORM
             else "account" if resource in ACCOUNT else "storefront")
    return f"{group}: {resource}"


def _operation_id(method: str, path: str) -> str:
    """``get /api/products/{id}/`` → ``get_products_id``: unique per path and method."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", path.replace("/api/", "/", 1)).strip("_")
    return f"{method}_{words or 'root'}"


def _path_params(route: Route, meta: dict) -> list[dict]:
    params = []
    for match in re.finditer(r"\{(\w+)(?::(\w+))?\}", route.template):
        name, kind = match.group(1), match.group(2) or "str"
        if kind == "int":
            schema: dict = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "pattern": r"^[^/\x00]+$", "maxLength": MAX_PATH_PARAM}
        schema.update(meta["path"].get(name, {}))
        schema = {k: v for k, v in schema.items() if v is not None}  # ``"pattern": None`` drops the default
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_params(model: type[BaseModel]) -> list[dict]:
    props = model.model_json_schema(mode="validation").get("properties", {})
    params = []
    for name, field in model.model_fields.items():
        key = field.validation_alias if isinstance(field.validation_alias, str) else field.alias or name
        schema = dict(props.get(key, {}))
        schema.pop("title", None)
        description = schema.pop("description", None) or field.description or ""
        variants = [v for v in schema.get("anyOf", []) if v.get("type") != "null"]
        if variants:  # a query value is never JSON null: an absent parameter is
            schema["anyOf"] = variants
            if len(variants) == 1:
                schema.pop("anyOf")
                schema.update(variants[0])
        if schema.get("default", 0) is None:
            schema.pop("default")
        param = {"name": key, "in": "query", "required": field.is_required(), "schema": schema or {"type": "string"}}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _names_ids(model: type[BaseModel]) -> bool:
    """Whether a request body refers to rows by id (a pk field, nested too)."""
    marker = PK_DOC["anyOf"][1]

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return node == marker or any(walk(v) for v in node.values())
        return isinstance(node, list) and any(walk(v) for v in node)

    return walk(model.model_json_schema(mode="validation"))


def _prepares_itself(handler: type) -> bool:
    """Handlers with their own prepare() (health, 404) skip auth and rate limits."""
    return handler.prepare is not BaseHandler.prepare


def _operation(route: Route, handler: type, method: str, meta: dict, models: _Models) -> dict:
    path = route.openapi_path
    role = handler.roles.get(method.upper(), handler.role)
    op: dict[str, Any] = {"summary": meta["summary"], "operationId": _operation_id(method, path),
                          "tags": [_tag(path, meta, role)], "parameters": _path_params(route, meta)}
    description = [meta["description"]] if meta["description"] else []
    if role:
        op["security"] = [{"bearer": []}]
        op["x-required-role"] = role  # "user" or "admin" (staff)
        if role != ADMIN and getattr(handler, "guest_ok", False):
            op["security"].append({"cartToken": []})
            description.append("Requires: a signed-in user, or a guest's cart token in `X-Cart-Token` "
                               "(POST /api/guest/cart/ starts one).")
        else:
            description.append(f"Requires: {'a staff user' if role == ADMIN else 'a signed-in user'}.")
    if meta["query"] is not None:
        op["parameters"] += _query_params(meta["query"])
    if meta["idempotent"]:
        op["parameters"].append(dict(IDEMPOTENCY_KEY))
    if not op["parameters"]:
        del op["parameters"]
    if meta["body"] is not None:
        body = meta["body"]
        required = method in ("put", "patch") or any(f.is_required() for f in body.model_fields.values())
        op["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": models.schema(body, "validation")}}}
    elif meta["files"]:
        props = {name: {"type": "string", "format": "binary", "description": text}
                 for name, text in meta["files"].items()}
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": props, "required": list(props)}}}}

    status = meta["status"]
    responses: dict[str, Any] = {}
    success_type = "application/json" if meta["content_type"] == "multipart/form-data" else meta["content_type"]
    if status == 204:
        responses["204"] = {"description": "No content"}
    elif success_type != "application/json":
        responses[str(status)] = {"description": "Success",
                                  "content": {success_type: {"schema": {"type": "string"}}}}
    elif meta["response"] is not None:
        responses[str(status)] = {"description": "Success", "content": {
            "application/json": {"schema": models.schema(meta["response"], "serialization")}}}
    else:
        responses[str(status)] = {"description": "Success"}
    for code, tp in meta["responses"].items():
        responses[str(code)] = {"description": "Success" if code < 400 else ERROR_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": models.schema(tp, "serialization")}}}
    for code, response in responses.items():
        names = ["X-Request-ID", *meta["headers"]]
        if meta["idempotent"]:
            names.append("Idempotent-Replayed")
        if success_type == "text/csv" and code == str(status):
            names.append("Content-Disposition")
        if not role and not _prepares_itself(handler):
            names.append("WWW-Authenticate")  # the hint beside an anonymous answer to a refused token
        response["headers"] = {name: _header(name) for name in names}

    errors: dict[int, str] = {}
    if not _prepares_itself(handler):
        errors[400] = ERROR_TEXT[400]
        errors[401] = ERROR_TEXT[401] if role else (
            "Credentials in the body are wrong (where the operation takes some); a bearer token that is invalid "
            "or expired is answered as anonymous here, with WWW-Authenticate: Bearer error=\"invalid_token\"")
        if role:
            errors[403] = ERROR_TEXT[403] + (" (a staff user is required)" if role == ADMIN else "")
        paginated = meta["query"] is not None and "page" in meta["query"].model_fields
        names_ids = meta["body"] is not None and _names_ids(meta["body"])
        if route.regex.groupindex or paginated or names_ids:
            errors[404] = "Not found" + (" (or a page out of range)" if paginated else "") + (
                " (or an id in the body names nothing the caller may see)" if names_ids else "")
        errors[429] = ERROR_TEXT[429]
    if meta["body"] is not None:
        errors[415] = ERROR_TEXT[415]
    errors[503] = ERROR_TEXT[503]
    errors.update(meta["errors"])
    for code, reason in meta["rejects"].items():
        known = errors.get(code, ERROR_TEXT.get(code, "Error"))
        errors[code] = f"{known}; also for input this document allows: {reason}"
    for code in sorted(errors):
        if str(code) in responses:
            continue
        response: dict[str, Any] = {"description": errors[code], "content": {"application/json": {"schema": ERROR_REF}}}
        names = ["X-Request-ID"] + (["Retry-After"] if code == 429 else []) + (
            ["WWW-Authenticate"] if code == 401 else []) + (["Idempotent-Replayed"] if meta["idempotent"] else [])
        response["headers"] = {name: _header(name) for name in names}
        responses[str(code)] = response
    op["responses"] = responses
    if meta["rejects"]:
        # Read by the schemathesis test (tests/api/test_openapi_fuzz.py): statuses this operation
        # answers to input the schema allows, each explained in its response's description.
        op["x-valid-input-statuses"] = sorted(meta["rejects"])
    if description:
        op["description"] = "\n\n".join(description)
    return op


def _tidy(node: Any, requests: bool = True) -> None:
    """No ``default: null`` on a type that does not allow null; no NUL in any
    text the client sends (PostgreSQL cannot store it; the server answers 400)."""
    if isinstance(node, dict):
        _bounds_into_variants(node)
        if "default" in node and node["default"] is None and not _allows_null(node):
            del node["default"]
        node.pop("title", None) if isinstance(node.get("title"), str) and "properties" not in node else None
        types = node.get("type")
        texty = types == "string" or (isinstance(types, list) and "string" in types)
        if requests and texty and not any(k in node for k in ("pattern", "enum", "const", "format")) \
                and node.get("maxLength") != 0:
            node["pattern"] = NO_NUL
        for key, value in node.items():
            _tidy(value, requests and key != "responses")
        _nullable_as_type(node)  # after its variants are tidied (an inner one may collapse first)
    elif isinstance(node, list):
        for value in node:
            _tidy(value, requests)


def _nullable_as_type(node: dict) -> None:
    """``anyOf: [{type: T, …}, {type: null}]`` → ``type: [T, "null"]``: the same
    schema in OpenAPI 3.1 without a union (a generator then makes an Optional
    field, not a union type)."""
    variants = node.get("anyOf")
    if not variants or len(variants) != 2 or {"type": "null"} not in variants:
        return
    other = variants[0] if variants[1] == {"type": "null"} else variants[1]
    kind = other.get("type")
    if isinstance(kind, list) and "null" in kind:  # already nullable (an OrNull around a nullable type)
        kind = [k for k in kind if k != "null"][0] if len(kind) == 2 else None
    if not isinstance(kind, str) or kind == "null" or any(k in node and node[k] != v for k, v in other.items()):
        return
    node.pop("anyOf")
    node.update(other)
    node["type"] = [kind, "null"]
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]


def _bounds_into_variants(node: dict) -> None:
    """A field-level ``maximum``/``minimum`` (``json_schema_extra``) on a type
    documented as number-or-numeric-text: the bound goes into the number
    variant, and the text variant is narrowed to numbers below it."""
    if "anyOf" not in node or not any(k in node for k in ("maximum", "minimum")):
        return
    bounds = {k: node.pop(k) for k in ("maximum", "minimum") if k in node}
    for variant in node["anyOf"]:
        if variant.get("type") in ("integer", "number"):
            if "maximum" in bounds:
                variant["maximum"] = min(variant.get("maximum", bounds["maximum"]), bounds["maximum"])
            if "minimum" in bounds:
                variant["minimum"] = max(variant.get("minimum", bounds["minimum"]), bounds["minimum"])
        elif variant.get("type") == "string" and "maximum" in bounds and variant.get("pattern") in _INT_TEXT:
            digits = max(1, len(str(int(bounds["maximum"]))) - 1)  # text below 10**digits <= maximum
            variant["pattern"] = (rf"^\+?0*[1-9]\d{{0,{digits - 1}}}$" if variant["pattern"] == INT_TEXT_POSITIVE
                                  else rf"^\+?\d{{1,{digits}}}$")


_INT_TEXT = (r"^\+?\d{1,9}$", INT_TEXT_POSITIVE)


def _allows_null(node: dict) -> bool:
    types = node.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    if None in node.get("enum", []):
        return True
    return any(isinstance(v, dict) and _allows_null(v) for v in node.get("anyOf", []) + node.get("oneOf", []))


def example(schema: Any, schemas: dict, name: str = "", depth: int = 0) -> Any:
    """An example value of ``schema``, built from the schema itself (a field's
    ``examples``, else its enum, format or type), so that it cannot drift from
    the model it shows; tests/api/test_openapi_document.py validates each one."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return example(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, name, depth)
    for key in ("examples", "enum"):
        values = [v for v in schema.get(key, []) if v is not None]
        if values:
            return values[0]
    if "const" in schema:
        return schema["const"]
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        chosen = next((v for v in variants if v.get("type") != "null"), variants[0])
        return example(chosen, schemas, name, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        out = {key: example(value, schemas, key, depth + 1) for key, value in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not out and depth < 6:
            out["key"] = example(extra, schemas, "", depth + 1)
        return out
    if kind == "array":
        return [example(schema.get("items", {}), schemas, name, depth + 1)] if depth < 6 else []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if schema.get("maximum", 1) >= 1 else schema["maximum"]
    if kind == "number":
        return max(float(schema.get("minimum", 1.5)), 1.5) if schema.get("maximum", 2) >= 1.5 else schema["maximum"]
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        for candidate in (_NAMED.get(name), "text", "99.99", "1", ""):
            if candidate is not None and re.search(schema.get("pattern", ""), candidate) \
                    and len(candidate) >= schema.get("minLength", 0):
                return candidate
        return "text"
    return None


_FORMATS = {"date-time": "2026-12-07T10:30:00Z", "date": "2026-12-07", "email": "ada@example.com",
            "uri": "https://api.avantlush.com/media/example.jpg", "uuid": "5f0c6c2e-8c3a-4d8e-9a51-1b2c3d4e5f60",
            "binary": ""}
_IMAGE = "https://api.avantlush.com/media/products/oak-chair.jpg"
_NAMED = {"email": "ada@example.com", "customer_email": "ada@example.com", "user_email": "ada@example.com",
          "created_at": "2026-12-07T10:30:00Z", "updated_at": "2026-12-07T10:30:00Z", "date": "2026-12-07",
          "order_number": "ORD-20261207-0001", "status": "PENDING", "name": "Oak dining chair",
          "product_name": "Oak dining chair", "first_product_name": "Oak dining chair", "message": "Done.",
          "sku": "OAK-CH-01", "slug": "oak-dining-chair", "description": "Solid oak, oiled.",
          "category_name": "Dining chairs", "variation_name": "Natural oak", "code": "WELCOME10",
          "full_name": "Ada Lovelace", "customer_name": "Ada Lovelace", "phone_number": "+2348012345678",
          "street_address": "12 Marina Road", "shipping_address": "12 Marina Road", "city": "Lagos",
          "state": "Lagos", "country": "Nigeria", "zip_code": "101001", "rating": "4.50",
          "next": "https://api.avantlush.com/api/products/?page=3",
          "previous": "https://api.avantlush.com/api/products/?page=1",
          "images": _IMAGE, "main_image": _IMAGE, "product_image": _IMAGE, "image_url": _IMAGE, "photo_url": _IMAGE,
          "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
          "refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
          "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}


def _add_examples(paths: dict, schemas: dict) -> None:
    for item in paths.values():
        for op in item.values():
            for response in op["responses"].values():
                content = response.get("content", {}).get("application/json")
                if content is not None and content.get("schema") not in (None, ERROR_REF):
                    content["example"] = example(content["schema"], schemas)


def build_openapi(routes: list) -> dict:
    paths: dict[str, dict] = {}
    models = _Models()
    for route in routes:
        if not isinstance(route, Route) or not route.template.startswith("/api/"):
            continue
        handler = route.handler_class
        item = paths.setdefault(route.openapi_path, {})
        for method in METHODS:
            meta = getattr(getattr(handler, method, None), "_api", None)
            if meta is not None:
                item[method] = _operation(route, handler, method, meta, models)
    schemas = models.resolve()
    schemas["Error"] = ERROR_SCHEMA
    for name, schema in schemas.items():
        _tidy(schema, requests=name in models.request_names)
    _tidy(paths)
    _add_examples(paths, schemas)
    tags = sorted({op["tags"][0] for item in paths.values() for op in item.values()})
    return {
        "openapi": "3.1.0",
        "info": {"title": "AvantLush API", "version": "1.0.0",
                 "description": "Storefront and admin dashboard API of the AvantLush furniture and home store. "
                                "Errors share one envelope (`Error`); `/api/v1/…` is an alias of `/api/…` and "
                                "the trailing slash is optional. A method a path does not have answers 405 "
                                "with `Allow`; every answer carries `X-Request-ID`. Operations are tagged "
                                "`<group>: <resource>`, the groups (storefront, account, admin, platform) "
                                "listed in `x-tagGroups`. Checkout step by step: the three card outcomes "
                                "(paid, 3-D Secure, declined) and saved cards under `POST /api/checkout/payment/`, "
                                "the guest flow (`X-Cart-Token`) under `POST /api/guest/cart/`."},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in tags],
        "x-tagGroups": [{"name": group, "description": text, "tags": [t for t in tags if t.startswith(group + ": ")]}
                        for group, text in GROUPS.items()],
        "paths": paths,
        "components": {"schemas": schemas, "headers": HEADERS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                           "cartToken": {"type": "apiKey", "in": "header", "name": "X-Cart-Token",
                                                         "description": "A guest's cart token (POST /api/guest/cart/)"}}},
    }
