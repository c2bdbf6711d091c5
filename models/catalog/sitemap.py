"""``/sitemap.xml``: the storefront's published products and every category,
at ``FRONTEND_URL`` addresses made from their stable slugs
(``/products/<slug>``, ``/categories/<slug>``), with the product's last change.

Up to ``PER_FILE`` (50,000, the protocol's limit) addresses it is one
``urlset``; beyond, ``/sitemap.xml`` is a sitemap index of
``/sitemap-<n>.xml`` files of ``PER_FILE`` addresses each (categories first,
then products by id). Each file is one query (a range of the
``product_published_id`` index of migration 0024), built as text in
PostgreSQL-sorted order, and kept per process under the catalog version
(migration 0003), so a crawler's requests cost one small query each.
"""
from __future__ import annotations

from collections import OrderedDict
from xml.sax.saxutils import escape

import settings
from models.catalog.queries import catalog_version
from models.core.db import fetch_all, fetch_one
from models.core.errors import NotFound

PER_FILE = 50_000
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'

_cache: OrderedDict[tuple, tuple[int | None, bytes]] = OrderedDict()
_MAX_CACHED = 16


def product_url(slug: str) -> str:
    return f"{settings.FRONTEND_URL}/products/{slug}"


def category_url(slug: str) -> str:
    return f"{settings.FRONTEND_URL}/categories/{slug}"


async def _sizes() -> tuple[int, int]:
    row = await fetch_one("SELECT (SELECT count(*) FROM category), "
                          "(SELECT count(*) FROM product WHERE status = 'published')")
    return row[0], row[1]


def _url(loc: str, lastmod: str | None = None) -> str:
    mod = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return f"<url><loc>{escape(loc)}</loc>{mod}</url>"


async def _urlset(offset: int, limit: int, categories: int) -> bytes:
    """Addresses ``offset`` .. ``offset + limit`` of the whole list (categories, then products by id)."""
    parts = [_HEAD, f"<urlset {_NS}>"]
    if offset < categories:
        rows = await fetch_all("SELECT slug FROM category ORDER BY id LIMIT %s OFFSET %s", [limit, offset])
        parts += [_url(category_url(r[0])) for r in rows]
        limit -= len(rows)
        offset = 0
    else:
        offset -= categories
    if limit > 0:
        rows = await fetch_all("SELECT slug, to_char(updated_at, 'YYYY-MM-DD') FROM product "
                               "WHERE status = 'published' ORDER BY id LIMIT %s OFFSET %s", [limit, offset])
        parts += [_url(product_url(r[0]), r[1]) for r in rows]
    parts.append("</urlset>\n")
    return "".join(parts).encode()


async def sitemap(part: int | None = None) -> bytes:
    """``/sitemap.xml`` (``part`` None) or ``/sitemap-<part>.xml``. NotFound for a part beyond the last."""
    version = await catalog_version()
    key = (part, settings.FRONTEND_URL, PER_FILE)
    cached = _cache.get(key)
    if cached is not None and version is not None and cached[0] == version:
        return cached[1]
    categories, products = await _sizes()
    total = categories + products
    files = max(1, -(-total // PER_FILE))
    if part is None:
        if files == 1:
            body = await _urlset(0, PER_FILE, categories)
        else:
            base = settings.BACKEND_URL.rstrip("/")
            body = (_HEAD + f"<sitemapindex {_NS}>"
                    + "".join(f"<sitemap><loc>{escape(f'{base}/sitemap-{n}.xml')}</loc></sitemap>"
                              for n in range(1, files + 1))
                    + "</sitemapindex>\n").encode()
    else:
        if not 1 <= part <= files:
            raise NotFound("No such sitemap.")
        body = await _urlset((part - 1) * PER_FILE, PER_FILE, categories)
    _cache[key] = (version, body)
    _cache.move_to_end(key)
    while len(_cache) > _MAX_CACHED:
        _cache.popitem(last=False)
    return body
