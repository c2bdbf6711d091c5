"""Slugs and the sitemap (issue 22, item 5): stable unique slugs for products
and categories (made at create, kept on rename, changed only explicitly),
lookup by slug, and /sitemap.xml at FRONTEND_URL addresses (a sitemap index
past 50,000 addresses)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import settings
from models.catalog import sitemap
from tests.support.client import assert_envelope

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
PRODUCT = {"base_price": "10.00", "status": "published", "stock_quantity": 3}


@pytest.mark.gen_test(timeout=60)
async def test_slugs_are_stable_unique_and_looked_up(api, make_user):
    admin = await make_user(is_staff=True)
    a = (await api.post("/api/products/", json={**PRODUCT, "name": "Oak Chair", "sku": "S1"}, user=admin)).json()
    b = (await api.post("/api/products/", json={**PRODUCT, "name": "Oak  Chair!", "sku": "S2"}, user=admin)).json()
    assert (a["slug"], b["slug"]) == ("oak-chair", "oak-chair-2")
    # a rename keeps the slug (links keep working); an explicit slug changes it
    renamed = (await api.patch(f"/api/products/{a['id']}/", json={"name": "Oak Armchair"}, user=admin)).json()
    assert renamed["slug"] == "oak-chair"
    bad = assert_envelope(await api.patch(f"/api/products/{a['id']}/", json={"slug": "oak-chair-2"}, user=admin), 400)
    assert "slug" in bad["errors"]
    assert_envelope(await api.patch(f"/api/products/{a['id']}/", json={"slug": "Not A Slug"}, user=admin), 400)
    moved = (await api.patch(f"/api/products/{a['id']}/", json={"slug": "oak-armchair"}, user=admin)).json()
    assert moved["slug"] == "oak-armchair"
    got = (await api.get("/api/products/by-slug/oak-armchair/")).json()
    assert got["id"] == a["id"] and got["name"] == "Oak Armchair"
    assert (await api.get(f"/api/products/{a['id']}/")).json() == got
    assert_envelope(await api.get("/api/products/by-slug/oak-chair/"), 404)
    draft = (await api.post("/api/products/", json={**PRODUCT, "name": "Hidden", "sku": "S3", "status": "draft"},
                            user=admin)).json()
    assert_envelope(await api.get(f"/api/products/by-slug/{draft['slug']}/"), 404)
    assert (await api.get(f"/api/products/by-slug/{draft['slug']}/", user=admin)).status == 200
    # categories
    cat = (await api.post("/api/categories/", json={"name": "Dining Chairs"}, user=admin)).json()
    assert cat["slug"] == "dining-chairs"
    cat2 = (await api.patch(f"/api/categories/{cat['id']}/", json={"name": "Dining seats"}, user=admin)).json()
    assert cat2["slug"] == "dining-chairs"
    cat3 = (await api.patch(f"/api/categories/{cat['id']}/", json={"slug": "dining-seats"}, user=admin)).json()
    assert cat3["slug"] == "dining-seats"
    assert (await api.get("/api/categories/by-slug/dining-seats/")).json() == \
        {"id": cat["id"], "name": "Dining seats", "slug": "dining-seats", "parent": None}
    assert_envelope(await api.get("/api/categories/by-slug/dining-chairs/"), 404)
    other = (await api.post("/api/categories/", json={"name": "Other", "slug": "dining-seats"}, user=admin))
    assert_envelope(other, 400)


@pytest.mark.gen_test(timeout=60)
async def test_sitemap_lists_published_products_and_categories(api, make_user, monkeypatch):
    admin = await make_user(is_staff=True)
    cat = (await api.post("/api/categories/", json={"name": "Sofas"}, user=admin)).json()
    await api.post("/api/products/", json={**PRODUCT, "name": "Green Sofa", "sku": "S1", "category": cat["id"]},
                   user=admin)
    await api.post("/api/products/", json={**PRODUCT, "name": "Draft Sofa", "sku": "S2", "status": "draft"},
                   user=admin)
    resp = await api.get("/sitemap.xml")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(resp.body)
    locs = [e.text for e in root.findall("s:url/s:loc", NS)]
    assert locs == [f"{settings.FRONTEND_URL}/categories/sofas", f"{settings.FRONTEND_URL}/products/green-sofa"]
    assert root.find("s:url[2]/s:lastmod", NS).text.count("-") == 2
    # a change shows at once (cached under the catalog version)
    await api.post("/api/products/", json={**PRODUCT, "name": "Blue Sofa", "sku": "S3"}, user=admin)
    root = ET.fromstring((await api.get("/sitemap.xml")).body)
    assert len(root.findall("s:url", NS)) == 3
    # past the per-file limit: an index of parts
    monkeypatch.setattr(sitemap, "PER_FILE", 2)
    root = ET.fromstring((await api.get("/sitemap.xml")).body)
    assert root.tag.endswith("sitemapindex")
    parts = [e.text for e in root.findall("s:sitemap/s:loc", NS)]
    assert parts == [f"{settings.BACKEND_URL}/sitemap-1.xml", f"{settings.BACKEND_URL}/sitemap-2.xml"]
    first = ET.fromstring((await api.get("/sitemap-1.xml")).body)
    second = ET.fromstring((await api.get("/sitemap-2.xml")).body)
    locs = [e.text for r in (first, second) for e in r.findall("s:url/s:loc", NS)]
    assert locs == [f"{settings.FRONTEND_URL}/categories/sofas", f"{settings.FRONTEND_URL}/products/green-sofa",
                    f"{settings.FRONTEND_URL}/products/blue-sofa"]
    assert_envelope(await api.get("/sitemap-3.xml"), 404)
