"""Typed product attributes (issue 22, item 3): staff CRUD, assignment in the
admin product create/update, attr_ filters on the list and search, facet
counts (per value, numeric ranges, disjunctive), 400s naming the valid
values, a fixed number of queries, and counts that follow every write."""
from __future__ import annotations

import pytest

from tests.support.client import assert_envelope
from tests.support.factories import category

PRODUCT = {"base_price": "100.00", "status": "published", "stock_quantity": 5}


async def setup_catalog(api, admin):
    resp = await api.post("/api/attributes/", json={"name": "Material", "kind": "choice",
                                                     "values": ["Oak", "Walnut", "Steel"]}, user=admin)
    assert resp.status == 201, resp
    material = resp.json()
    assert material["slug"] == "material" and [v["slug"] for v in material["values"]] == ["oak", "walnut", "steel"]
    resp = await api.post("/api/attributes/", json={"name": "Width", "kind": "number", "unit": "cm"}, user=admin)
    assert resp.status == 201, resp
    chairs = await category("Chairs")
    made = {}
    for name, sku, attrs, cat in [
        ("Oak Chair", "A1", {"material": ["oak"], "width": 45}, chairs),
        ("Walnut Chair", "A2", {"material": ["Walnut"], "width": "50.5"}, chairs),
        ("Oak Steel Table", "A3", {"material": ["oak", "steel"], "width": 180}, None),
        ("Walnut Table", "A4", {"material": ["walnut"], "width": 160}, None),
        ("Plain Stool", "A5", {}, None),
    ]:
        resp = await api.post("/api/products/", json={**PRODUCT, "name": name, "sku": sku, "category": cat,
                                                      "attributes": attrs}, user=admin)
        assert resp.status == 201, resp
        made[name] = resp.json()
    return material, made, chairs


async def names(api, path, **params):
    resp = await api.get(path, params=params)
    assert resp.status == 200, resp
    return sorted(r["name"] for r in resp.json()["results"])


@pytest.mark.gen_test(timeout=60)
async def test_attributes_crud_assignment_filters_and_facets(api, make_user):
    admin = await make_user(is_staff=True)
    material, made, chairs = await setup_catalog(api, admin)
    oak_chair = made["Oak Chair"]
    assert [(a["slug"], [v["slug"] for v in a["values"]], a["number"]) for a in oak_chair["attributes"]] == \
        [("material", ["oak"], None), ("width", [], "45.00")]
    detail = (await api.get(f"/api/products/{oak_chair['id']}/")).json()
    assert detail["attributes"] == oak_chair["attributes"]

    # filters: values OR within an attribute, AND across attributes, number ranges with bounds included
    assert await names(api, "/api/products/", attr_material="oak") == ["Oak Chair", "Oak Steel Table"]
    assert await names(api, "/api/products/", attr_material="oak,walnut", attr_width_max="50.5") == \
        ["Oak Chair", "Walnut Chair"]
    assert await names(api, "/api/products/", attr_width_min="100", ordering="price") == \
        ["Oak Steel Table", "Walnut Table"]
    assert await names(api, "/api/products/", attr_material="walnut", search="table") == ["Walnut Table"]
    assert await names(api, "/api/products/search/", attr_material="walnut", q="chair") == ["Walnut Chair"]
    body = (await api.get("/api/products/", params={"attr_material": "steel"})).json()
    assert body["count"] == 1

    # unknown attribute / value / wrong syntax: 400 naming the valid ones
    bad = assert_envelope(await api.get("/api/products/", params={"attr_colourz": "red"}), 400)
    assert "material" in bad["errors"]["attr_colourz"][0] and "width" in bad["errors"]["attr_colourz"][0]
    bad = assert_envelope(await api.get("/api/products/", params={"attr_material": "plastic"}), 400)
    assert "oak, walnut, steel" in bad["errors"]["attr_material"][0]
    assert_envelope(await api.get("/api/products/", params={"attr_width": "5"}), 400)
    assert_envelope(await api.get("/api/products/", params={"attr_width_min": "abc"}), 400)
    assert_envelope(await api.get("/api/products/facets/", params={"attr_material_min": "1"}), 400)

    # facets: counts per value, numeric min/max, the total
    facets = (await api.get("/api/products/facets/")).json()
    assert facets["count"] == 5
    mat = next(a for a in facets["attributes"] if a["slug"] == "material")
    assert {v["slug"]: v["count"] for v in mat["values"]} == {"oak": 2, "walnut": 2, "steel": 1}
    width = next(a for a in facets["attributes"] if a["slug"] == "width")
    assert (width["min"], width["max"], width["count"], width["unit"]) == ("45.00", "180.00", 4, "cm")
    # with a category and a material chosen: the material's own counts ignore its filter (disjunctive),
    # the width range follows it
    facets = (await api.get("/api/products/facets/", params={"category": chairs, "attr_material": "oak"})).json()
    assert facets["count"] == 1
    mat = next(a for a in facets["attributes"] if a["slug"] == "material")
    assert {v["slug"]: (v["count"], v["selected"]) for v in mat["values"]} == \
        {"oak": (1, True), "walnut": (1, False), "steel": (0, False)}
    width = next(a for a in facets["attributes"] if a["slug"] == "width")
    assert (width["min"], width["max"]) == ("45.00", "45.00")
    # with a width range: material counts narrowed by it; width's own range ignores it
    facets = (await api.get("/api/products/facets/", params={"attr_width_min": "100"})).json()
    assert facets["count"] == 2
    mat = next(a for a in facets["attributes"] if a["slug"] == "material")
    assert {v["slug"]: v["count"] for v in mat["values"]} == {"oak": 1, "walnut": 1, "steel": 1}
    width = next(a for a in facets["attributes"] if a["slug"] == "width")
    assert (width["min"], width["max"], width["selected_min"]) == ("45.00", "180.00", "100.00")
    # search facets
    facets = (await api.get("/api/products/facets/", params={"search": "table"})).json()
    assert facets["count"] == 2

    # writes move the counts at once (cache keyed on the catalog version)
    resp = await api.patch(f"/api/products/{made['Plain Stool']['id']}/", json={"attributes": {"material": ["oak"]}},
                           user=admin)
    assert resp.status == 200, resp
    facets = (await api.get("/api/products/facets/")).json()
    mat = next(a for a in facets["attributes"] if a["slug"] == "material")
    assert {v["slug"]: v["count"] for v in mat["values"]}["oak"] == 3
    # a PATCH names the attributes it sets (others stay); null removes one
    resp = await api.patch(f"/api/products/{made['Plain Stool']['id']}/", json={"attributes": {"width": 40}},
                           user=admin)
    assert [a["slug"] for a in resp.json()["attributes"]] == ["material", "width"]
    resp = await api.patch(f"/api/products/{made['Plain Stool']['id']}/", json={"attributes": {"material": None}},
                           user=admin)
    assert [(a["slug"], a["number"]) for a in resp.json()["attributes"]] == [("width", "40.00")]
    resp = await api.patch(f"/api/products/{made['Plain Stool']['id']}/",
                           json={"attributes": {"material": ["oak"], "width": None}}, user=admin)
    assert [a["slug"] for a in resp.json()["attributes"]] == ["material"]
    # a PATCH without attributes leaves them; an unknown one is a 400 and changes nothing
    resp = await api.patch(f"/api/products/{oak_chair['id']}/", json={"name": "Oak Chair II"}, user=admin)
    assert resp.json()["attributes"] == oak_chair["attributes"]
    bad = assert_envelope(await api.patch(f"/api/products/{oak_chair['id']}/",
                                          json={"name": "X", "attributes": {"material": ["plastic"]}}, user=admin), 400)
    assert "plastic" in bad["errors"]["attributes"][0]
    assert (await api.get(f"/api/products/{oak_chair['id']}/")).json()["name"] == "Oak Chair II"

    # values: add, rename (slug kept), delete (assignments go)
    resp = await api.post(f"/api/attributes/{material['id']}/values/", json={"value": "Rattan"}, user=admin)
    assert resp.status == 201 and resp.json()["values"][-1]["slug"] == "rattan"
    oak_id = material["values"][0]["id"]
    resp = await api.patch(f"/api/attribute-values/{oak_id}/", json={"value": "Solid Oak"}, user=admin)
    assert resp.status == 200 and resp.json()["values"][0] == {"id": oak_id, "value": "Solid Oak", "slug": "oak",
                                                                "position": 0, "products_count": 3}
    assert (await api.delete(f"/api/attribute-values/{oak_id}/", user=admin)).status == 204
    assert_envelope(await api.get("/api/products/", params={"attr_material": "oak"}), 400)
    # attributes: duplicate slug, values on a number, kind change; only staff
    assert_envelope(await api.post("/api/attributes/", json={"name": "Material", "kind": "choice"}, user=admin), 400)
    assert_envelope(await api.post("/api/attributes/", json={"name": "Depth", "kind": "number", "values": ["x"]},
                                   user=admin), 400)
    assert_envelope(await api.get("/api/attributes/"), 401)
    shopper = await make_user()
    assert_envelope(await api.get("/api/attributes/", user=shopper), 403)
    listed = (await api.get("/api/attributes/", user=admin)).json()
    assert [a["slug"] for a in listed] == ["material", "width"]
    assert (await api.delete(f"/api/attributes/{material['id']}/", user=admin)).status == 204
    assert_envelope(await api.get(f"/api/attributes/{material['id']}/", user=admin), 404)


@pytest.mark.gen_test(timeout=60)
async def test_facets_and_filtered_list_run_a_fixed_number_of_queries(api, make_user, count_queries):
    admin = await make_user(is_staff=True)
    await setup_catalog(api, admin)
    with count_queries() as first:
        assert (await api.get("/api/products/facets/", params={"attr_material": "oak,walnut",
                                                               "attr_width_min": "40"})).status == 200
    with count_queries() as cached:
        assert (await api.get("/api/products/facets/", params={"attr_material": "oak,walnut",
                                                               "attr_width_min": "40"})).status == 200
    assert len(first) <= 3 and len(cached) == 1, (first, cached)  # versions (+ definitions, + counts without the index)
    with count_queries() as listed:
        resp = await api.get("/api/products/", params={"attr_material": "oak", "page_size": 1})
        assert resp.status == 200 and resp.json()["count"] == 2
    with count_queries() as listed_more:
        resp = await api.get("/api/products/", params={"attr_material": "oak,walnut,steel", "page_size": 4})
    assert len(listed) == len(listed_more) <= 3, (listed, listed_more)


@pytest.mark.gen_test(timeout=60)
async def test_facets_from_the_index_equal_the_sql_twin(api, make_user, monkeypatch):
    """The process's index (models/catalog/engine.py) answers facet counts and
    the attribute-filtered list's total; SEARCH_INDEX=0 answers them in SQL:
    the same numbers, and the index follows a write at once."""
    from models.catalog import attributes, engine

    admin = await make_user(is_staff=True)
    _material, made, chairs = await setup_catalog(api, admin)
    queries = [{}, {"category": chairs}, {"attr_material": "oak"}, {"attr_material": "oak,steel", "attr_width_min": "50"},
               {"attr_width_min": "46", "attr_width_max": "170"}, {"search": "table"}, {"search": "chair",
                                                                                     "attr_material": "walnut"},
               {"min_price": "50", "max_price": "150", "attr_material": "walnut"}, {"in_stock": "true"}]

    async def both(params):
        answers = []
        for enabled in (True, False):
            monkeypatch.setattr(engine.engine, "enabled", enabled)
            attributes.facet_cache.entries.clear()
            facets = (await api.get("/api/products/facets/", params=params)).json()
            listed = (await api.get("/api/products/", params={k: v for k, v in params.items()})).json()
            answers.append((facets, listed["count"], sorted(p["id"] for p in listed["results"])))
        return answers

    for params in queries:
        indexed, sql = await both(params)
        assert indexed == sql, params
    assert engine.engine.index is not None and engine.engine.index.values  # the index did answer
    # a write: the index catches up before it answers
    monkeypatch.setattr(engine.engine, "enabled", True)
    before = (await api.get("/api/products/facets/", params={"attr_material": "steel"})).json()["count"]
    await api.patch(f"/api/products/{made['Walnut Table']['id']}/", json={"attributes": {"material": ["steel"]}},
                    user=admin)
    after = (await api.get("/api/products/facets/", params={"attr_material": "steel"})).json()["count"]
    listed = (await api.get("/api/products/", params={"attr_material": "steel"})).json()["count"]
    assert (before, after, listed) == (1, 2, 2)
    indexed, sql = await both({"attr_material": "steel,walnut"})
    assert indexed == sql
