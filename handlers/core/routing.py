"""The route table and the application that routes it: ``Route`` templates
(``/api/addresses/{id:int}/``), ``Application`` (routing by the path's first
segment) and ``all_routes()``, the resource modules' ``routes`` in order."""
from __future__ import annotations

import importlib
import re
from typing import Any

import tornado.httputil
import tornado.web

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
_PARAM_PATTERNS = {"int": r"[0-9]+", "str": r"[^/]+"}


class Route(tornado.web.URLSpec):
    """A route written as ``/api/addresses/{id:int}/``; ``/api/v1/`` and the
    trailing slash are optional, and the template is kept for OpenAPI."""

    def __init__(self, template: str, handler: type[tornado.web.RequestHandler], **kwargs: Any) -> None:
        self.template = template
        body = template.rstrip("/")

        def sub(match: re.Match) -> str:
            return f"(?P<{match.group(1)}>{_PARAM_PATTERNS[match.group(2) or 'str']})"

        pattern = _PARAM.sub(sub, re.escape(body).replace(r"\{", "{").replace(r"\}", "}").replace(r"\:", ":"))
        if pattern.startswith("/api/"):
            pattern = "/api(?:/v1)?/" + pattern[len("/api/"):]
        super().__init__(pattern + "/?$", handler, kwargs or None)

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.template)


class Application(tornado.web.Application):
    """Tornado's application, routing by the path's first segment: a request
    tries only the routes that can match it (those of ``/api/<segment>/…``,
    ``/api/v1/`` too, and the few not under a literal ``/api/<segment>``), in
    the table's order, instead of every pattern of the table in turn."""

    def find_handler(self, request: tornado.httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        router = self.wildcard_router
        if len(self.default_router.rules) == 1:  # no host-specific handlers (add_handlers)
            for rule in self._candidates(request.path):
                params = rule.matcher.match(request)
                if params is not None:
                    if rule.target_kwargs:
                        params["target_kwargs"] = rule.target_kwargs
                    delegate = router.get_target_delegate(rule.target, request, **params)
                    if delegate is not None:
                        return delegate
        return super().find_handler(request, **kwargs)  # a miss: the full table, then the default handler

    def _candidates(self, path: str) -> list:
        rules = self.wildcard_router.rules
        index = getattr(self, "_route_index", None)
        if index is None or index[0] != len(rules):
            keyed = [(rule, _route_key(rule)) for rule in rules]
            index = self._route_index = (len(rules), keyed, {k for _, k in keyed if k is not None}, {})
        _, keyed, known, cache = index
        keys: tuple[str, ...] = ()
        if path.startswith("/api/"):
            first, _, rest = path[5:].partition("/")
            keys = (first, rest.partition("/")[0]) if first == "v1" else (first,)
        key = tuple(k for k in keys if k in known)  # bounded: only the table's own segments
        found = cache.get(key)
        if found is None:
            found = cache[key] = [rule for rule, k in keyed if k is None or k in key]
        return found


def _route_key(rule: Any) -> str | None:
    """The literal first segment after ``/api/`` of a ``Route`` (its regex can
    only match ``/api/<it>…`` or ``/api/v1/<it>…``); None: try it for every path."""
    template = getattr(rule, "template", None)
    if not isinstance(rule, Route) or not template or not template.startswith("/api/"):
        return None
    first = template[5:].partition("/")[0]
    return first if first and first != "v1" and "{" not in first and "}" not in first else None


# Resource modules, in routing order (the first match wins).
MODULES = [
    "health",
    "docs",
    "auth",
    "profile",
    "addresses",
    "waitlist",
    "products",
    "exports",
    "orders",
    "checkout",
    "payment_methods",
    "guest",
    "webhooks",
    "media",
    "support",
    "countries",
    "customers",
    "dashboard",
    "cart",
    "promo_codes",
    "attributes",
    "sitemap",
    "shipping",
    "wishlist",
    "fulfilment",
]


def all_routes() -> list:
    routes: list = []
    for name in MODULES:
        routes += importlib.import_module(f"handlers.{name}").routes
    return routes
