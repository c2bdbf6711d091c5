"""``GET /api/schema/``: the OpenAPI 3.1 document, built from the routes and
the ``@api`` metadata of their handlers."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from handlers.base import BaseHandler, Route, api

METHODS = ("get", "post", "put", "patch", "delete")


def _schema(tp: Any, defs: dict) -> dict:
    adapter = TypeAdapter(tp)
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs.update(schema.pop("$defs", {}))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        defs[tp.__name__] = schema
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    return schema


def _query_params(model: type[BaseModel]) -> list[dict]:
    params = []
    for name, field in model.model_fields.items():
        params.append({"name": name, "in": "query", "required": field.is_required(),
                       "description": field.description or "", "schema": {"type": "string"}})
    return params


def build_openapi(routes: list[Route]) -> dict:
    paths: dict[str, dict] = {}
    defs: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.template.startswith("/api/"):
            continue
        handler = route.handler_class
        item = paths.setdefault(route.openapi_path, {})
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in route.regex.groupindex]
        for method in METHODS:
            fn = getattr(handler, method, None)
            meta = getattr(fn, "_api", None)
            if meta is None:
                continue
            op: dict[str, Any] = {"summary": meta["summary"], "operationId": f"{handler.__name__}.{method}",
                                  "tags": [handler.__module__.split(".")[-1]], "parameters": list(params)}
            role = handler.roles.get(method.upper(), handler.role)
            if role:
                op["security"] = [{"bearer": []}]
                op["description"] = f"Requires: {role}."
            if meta.get("description"):
                op["description"] = (op.get("description", "") + "\n\n" + meta["description"]).strip()
            if meta["query"] is not None:
                op["parameters"] += _query_params(meta["query"])
            if meta["body"] is not None:
                op["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema(meta["body"], defs)}}}
            elif meta["content_type"] == "multipart/form-data":
                op["requestBody"] = {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}
            status = str(meta["status"])
            if meta["response"] is not None:
                content = {"application/json": {"schema": _schema(meta["response"], defs)}}
                op["responses"] = {status: {"description": "Success", "content": content}}
            elif meta["content_type"] not in ("application/json", "multipart/form-data"):
                op["responses"] = {status: {"description": "Success",
                                            "content": {meta["content_type"]: {"schema": {"type": "string"}}}}}
            else:
                op["responses"] = {status: {"description": "Success"}}
            op["responses"]["4XX"] = {"description": "Error envelope",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            item[method] = op
    defs["Error"] = {"type": "object", "required": ["status", "success", "message", "errors"], "properties": {
        "status": {"const": "error"}, "success": {"const": False}, "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "AvantLush API", "version": "1.0.0",
                 "description": "Storefront and admin dashboard API of the AvantLush furniture and home store."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": defs,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


class SchemaHandler(BaseHandler):
    _cache: dict | None = None

    @api(response=dict)
    async def get(self):
        """The OpenAPI 3.1 document of this API."""
        from handlers import all_routes

        if SchemaHandler._cache is None:
            SchemaHandler._cache = build_openapi(all_routes())
        self.reply(SchemaHandler._cache)


routes = [Route("/api/schema/", SchemaHandler), Route("/openapi.json", SchemaHandler)]
