"""The pages around the API: ``/api/`` (an index), ``/api/schema/`` (the
OpenAPI 3.1 document, built by handlers/core/openapi.py from the
application's routes), ``/api/docs/`` (Swagger UI, its assets served from the
``swagger-ui-bundle`` package: no CDN, works offline) and ``/preview_email/``
(every email template rendered with sample data)."""
from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote

import swagger_ui_bundle
import tornado.web
from pydantic import Field

import settings
from handlers.core.base import BaseHandler
from handlers.core.fields import Query, choices_doc
from handlers.core.openapi import api, build_openapi
from handlers.core.routing import Route
from models.core.errors import NotFound
from models.core.mail import render_preview, template_names


class SchemaHandler(BaseHandler):
    _cache: dict | None = None

    @api(response=dict)
    async def get(self):
        """The OpenAPI 3.1 document of this API."""
        if SchemaHandler._cache is None:  # the application's own route table
            SchemaHandler._cache = build_openapi(self.application.wildcard_router.rules)
        self.reply(SchemaHandler._cache)


class IndexHandler(BaseHandler):
    @api(response=dict)
    async def get(self):
        """Where to start: links to the docs page, the OpenAPI document and the health check."""
        base = self.base_url()
        self.reply({"name": "AvantLush API", "docs": f"{base}/api/docs/", "schema": f"{base}/api/schema/",
                    "health": f"{base}/api/health/"})


DOCS_DIR = settings.ROOT / "static" / "docs"


class DocsHandler(BaseHandler):
    @api(content_type="text/html")
    async def get(self):
        """The API documentation page (Swagger UI over ``/api/schema/``)."""
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish((DOCS_DIR / "index.html").read_bytes())


class DocsAssetHandler(tornado.web.StaticFileHandler):
    """Swagger UI's files from the swagger-ui-bundle package, and our page's script."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "public, max-age=3600")
        self.set_header("X-Content-Type-Options", "nosniff")


class PreviewQuery(Query):
    template: Annotated[str | None, choices_doc(template_names(), description="Template to render")] = None
    email: str | None = Field(default=None, max_length=254, description="Recipient shown in the sample")


class PreviewEmailHandler(BaseHandler):
    @api(query=PreviewQuery, content_type="text/html", errors={404: "No email template has this name"})
    async def get(self):
        """Email previews for marketing: the list of templates, or ``?template=<name>`` rendered with sample data."""
        args = self.query(PreviewQuery)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        if not args.template:
            items = "".join(f'<li><a href="?template={quote(n)}">{escape(n)}</a></li>' for n in template_names())
            self.finish('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                        '<title>AvantLush email previews</title></head><body><h1>AvantLush email previews</h1>'
                        f'<ul>{items}</ul></body></html>')
            return
        try:
            _, html = render_preview(args.template, email=args.email)
        except KeyError:
            raise NotFound("No email template has this name.") from None
        self.finish(html)


routes = [
    Route("/api/", IndexHandler),
    Route("/api/schema/", SchemaHandler),
    Route("/openapi.json", SchemaHandler),
    Route("/api/docs/", DocsHandler),
    tornado.web.URLSpec(r"/api/docs/assets/(init\.js|docs\.css)", DocsAssetHandler, {"path": str(DOCS_DIR)}),
    tornado.web.URLSpec(r"/api/docs/assets/(swagger-ui[\w.-]*\.(?:js|css))", DocsAssetHandler,
                        {"path": swagger_ui_bundle.swagger_ui_path}),
    Route("/api/preview_email/", PreviewEmailHandler),
    Route("/preview_email/", PreviewEmailHandler),
]
