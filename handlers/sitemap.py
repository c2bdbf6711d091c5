"""``/sitemap.xml`` for search engines: published products and categories at
their storefront (``FRONTEND_URL``) addresses; a sitemap index of
``/sitemap-<n>.xml`` files past 50,000 addresses (models/catalog/sitemap.py)."""
from __future__ import annotations

from handlers.core.base import BaseHandler
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.catalog import sitemap


class SitemapHandler(BaseHandler):
    @api(content_type="application/xml", tag="sitemap")
    async def get(self):
        """The sitemap: a ``urlset`` of product and category pages, or past 50,000 of them a ``sitemapindex``."""
        self.set_header("Content-Type", "application/xml; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(await sitemap.sitemap())


class SitemapPartHandler(BaseHandler):
    not_found_message = "No such sitemap."

    @api(content_type="application/xml", tag="sitemap")
    async def get(self, n: str):
        """One file of the sitemap index (50,000 addresses each: categories, then products by id)."""
        self.set_header("Content-Type", "application/xml; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(await sitemap.sitemap(int(n)))


routes = [
    Route("/sitemap.xml", SitemapHandler),
    Route("/sitemap-{n:int}.xml", SitemapPartHandler),
]
