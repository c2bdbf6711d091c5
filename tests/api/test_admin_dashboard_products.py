"""The dashboard's product table, tab counts, bulk actions and the admin
order form's product search."""
from __future__ import annotations

import datetime as dt

import pytest

from models.catalog.tables import Product, ProductVariation
from tests.support.client import assert_envelope
from tests.support.factories import make_category, make_product, make_products

URL = "/api/dashboard/product_management_data/"
ROW_KEYS = {"id", "name", "sku", "category", "category_id", "variants", "variant_count", "stock_quantity",
            "stock_status", "stock_label", "stock_color", "price", "status", "status_color", "created_at",
            "updated_at", "created_at_iso", "updated_at_iso", "main_image", "is_featured", "rating", "num_ratings"}


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True))


@pytest.fixture
def shop(io_loop):
    """Chair (published, 10 in stock, 3 variations), Table (published, 347), Lamp (draft, 0),
    Sofa (published, 0), Rug (archived, 5)."""

    async def build():
        chair_cat = await make_category("Chair", "chair")
        table_cat = await make_category("Table", "table")
        t0 = dt.datetime(2022, 12, 29, 10, 0)
        ids = {
            "chair": await make_product("Ergonomic Chair", "302012", category=chair_cat, stock=10,
                                        base_price="121.00", created_at=t0, main_image="https://img/chair.jpg"),
            "table": await make_product("Oak Table", "301600", category=table_cat, stock=347, base_price="400.00",
                                        created_at=t0 - dt.timedelta(days=101)),
            "lamp": await make_product("Desk Lamp", "LMP-1", status="draft", stock=0, base_price="30.00",
                                       created_at=t0 - dt.timedelta(days=200)),
            "sofa": await make_product("Velvet Sofa", "SOF-1", category=chair_cat, stock=0, base_price="900",
                                       created_at=t0 - dt.timedelta(days=300)),
            "rug": await make_product("Wool Rug", "RUG-1", status="archived", stock=5, base_price="80",
                                      created_at=t0 - dt.timedelta(days=400)),
        }
        await ProductVariation.insert_many([{"product": ids["chair"], "variation": v, "sku": f"CH-{v}"}
                                            for v in ("Red", "Blue", "Green")]).aio_execute()
        await ProductVariation.insert(product=ids["table"], variation="Oak").aio_execute()
        return ids

    return io_loop.run_sync(build)


@pytest.mark.gen_test
async def test_product_management_data_has_the_documented_shape(api, admin, shop):
    resp = await api.get(URL, user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert set(body) == {"products", "pagination", "filters", "tab_counts"}
    assert body["pagination"] == {"current_page": 1, "total_pages": 1, "total_count": 5, "page_size": 10,
                                  "has_next": False, "has_previous": False}
    assert body["filters"] == {"tab": "all", "search": "", "category": ""}
    assert body["tab_counts"] == {"all": 5, "published": 3, "low_stock": 2, "draft": 1, "out_of_stock": 2}
    names = [p["name"] for p in body["products"]]
    assert names == ["Ergonomic Chair", "Oak Table", "Desk Lamp", "Velvet Sofa", "Wool Rug"]  # newest first

    chair = body["products"][0]
    assert set(chair) == ROW_KEYS
    assert chair == {
        "id": shop["chair"], "name": "Ergonomic Chair", "sku": "302012", "category": "Chair",
        "category_id": chair["category_id"], "variants": "3 Variants", "variant_count": 3, "stock_quantity": 10,
        "stock_status": "low_stock", "stock_label": "Low Stock", "stock_color": "orange", "price": 121.0,
        "status": "low_stock", "status_color": "orange", "created_at": "29 Dec 2022", "updated_at": "29 Dec 2022",
        "created_at_iso": chair["created_at_iso"], "updated_at_iso": chair["updated_at_iso"],
        "main_image": "https://img/chair.jpg", "is_featured": False, "rating": 0.0, "num_ratings": 0,
    }
    assert chair["created_at_iso"].startswith("2022-12-29T") and chair["created_at_iso"].endswith("Z")
    assert '"price":121.00' in resp.text and '"rating":0.00' in resp.text  # numbers with two decimals
    rows = {p["name"]: p for p in body["products"]}
    table = rows["Oak Table"]
    assert (table["status"], table["status_color"], table["stock_status"], table["stock_label"],
            table["stock_color"], table["variants"], table["price"]) == (
        "published", "green", "in_stock", "In Stock", "green", "1 Variant", 400.0)
    lamp = rows["Desk Lamp"]
    assert (lamp["status"], lamp["status_color"], lamp["stock_status"], lamp["stock_color"], lamp["category"]) == (
        "draft", "gray", "out_of_stock", "red", None)
    sofa = rows["Velvet Sofa"]
    assert (sofa["status"], sofa["status_color"], sofa["stock_label"]) == ("out_of_stock", "red", "Out of Stock")
    assert rows["Wool Rug"]["status"] == "archived"


@pytest.mark.gen_test
async def test_tabs_filter_the_table(api, admin, shop):
    async def names(**params):
        resp = await api.get(URL, params=params, user=admin)
        assert resp.status == 200, resp
        assert resp.json()["filters"]["tab"] == params.get("tab", "all")
        return {p["name"] for p in resp.json()["products"]}

    assert await names(tab="published") == {"Ergonomic Chair", "Oak Table", "Velvet Sofa"}
    assert await names(tab="draft") == {"Desk Lamp"}
    assert await names(tab="low_stock") == {"Ergonomic Chair", "Wool Rug"}
    assert await names(tab="out_of_stock") == {"Desk Lamp", "Velvet Sofa"}
    assert len(await names(tab="all")) == 5


@pytest.mark.gen_test
async def test_search_and_category_filters(api, admin, shop):
    async def names(**params):
        resp = await api.get(URL, params=params, user=admin)
        assert resp.status == 200, resp
        return {p["name"] for p in resp.json()["products"]}

    assert await names(search="oak") == {"Oak Table"}
    assert await names(search="3016") == {"Oak Table"}  # SKU
    assert await names(search="chair") == {"Ergonomic Chair", "Velvet Sofa"}  # category name too
    assert await names(search="100%") == set()  # wildcards are literal
    assert await names(category="chair") == {"Ergonomic Chair", "Velvet Sofa"}
    assert await names(category="chair", tab="out_of_stock") == {"Velvet Sofa"}
    assert await names(category="nope") == set()
    body = (await api.get(URL, params={"search": "oak", "category": "table"}, user=admin)).json()
    assert body["filters"] == {"tab": "all", "search": "oak", "category": "table"}
    assert body["pagination"]["total_count"] == 1
    # Tab counts stay those of the whole catalog.
    assert body["tab_counts"]["all"] == 5


@pytest.mark.gen_test
async def test_invalid_tab_and_page(api, admin, shop):
    body = assert_envelope(await api.get(URL, params={"tab": "sold"}, user=admin), 400)
    assert body["valid_tabs"] == ["all", "published", "low_stock", "draft", "out_of_stock"]
    assert "tab" in body["errors"]
    assert_envelope(await api.get(URL, params={"page": 3}, user=admin), 404)
    assert_envelope(await api.get(URL, params={"page_size": "x"}, user=admin), 400)


@pytest.mark.gen_test
async def test_pagination(api, admin):
    await make_products(25)
    body = (await api.get(URL, params={"page": 2}, user=admin)).json()
    assert body["pagination"] == {"current_page": 2, "total_pages": 3, "total_count": 25, "page_size": 10,
                                  "has_next": True, "has_previous": True}
    assert [p["name"] for p in body["products"]] == [f"Product {i:04d}" for i in range(10, 20)]
    body = (await api.get(URL, params={"page": 3, "page_size": 12}, user=admin)).json()
    assert body["pagination"]["total_pages"] == 3 and len(body["products"]) == 1


@pytest.mark.gen_test
async def test_queries_do_not_grow_with_page_size(api, admin, count_queries):
    ids = await make_products(60)
    await ProductVariation.insert_many([{"product": pid, "variation": "V"} for pid in ids]).aio_execute()

    async def queries_for(size: int) -> int:
        with count_queries() as log:
            resp = await api.get(URL, params={"page_size": size}, user=admin)
        assert resp.status == 200, resp
        assert len(resp.json()["products"]) == size
        assert all(p["variant_count"] == 1 for p in resp.json()["products"])
        return len(log)

    small, large = await queries_for(5), await queries_for(50)
    assert small == large
    assert large <= 4  # the user, the tab counts, the count, the page


@pytest.mark.gen_test
async def test_tab_counts_endpoint_runs_one_query(api, admin, shop, count_queries):
    with count_queries() as log:
        resp = await api.get("/api/products/tab_counts/", user=admin)
    assert resp.status == 200, resp
    assert resp.json() == {"all": 5, "published": 3, "low_stock": 2, "draft": 1, "out_of_stock": 2}
    assert [sql for sql in log if "product" in sql] == [sql for sql in log if "FROM product_count" in sql]
    assert len([sql for sql in log if "product" in sql]) == 1  # one query, on the kept counts


@pytest.mark.gen_test
async def test_dashboard_endpoints_are_admin_only(api, make_user):
    shopper = await make_user(email="s@example.com")
    for path in (URL, "/api/products/tab_counts/", "/api/product-search/?q=chair"):
        assert_envelope(await api.get(path), 401)
        assert_envelope(await api.get(path, user=shopper), 403)
    for path in ("/api/dashboard/bulk_product_action/", "/api/products/bulk-update-status/"):
        assert_envelope(await api.post(path, json={}), 401)
        assert_envelope(await api.post(path, json={}, user=shopper), 403)


# --- bulk actions ---------------------------------------------------------------------------

BULK = "/api/dashboard/bulk_product_action/"


async def statuses() -> dict[str, tuple[str, bool]]:
    return {p.name: (p.status, p.is_featured) for p in await Product.select().aio_execute()}


@pytest.mark.gen_test
async def test_bulk_publish_draft_feature_unfeature(api, admin, shop):
    ids = [shop["chair"], shop["lamp"], shop["rug"]]
    for action, message in (("publish", "3 products published successfully"),
                            ("feature", "3 products featured successfully")):
        resp = await api.post(BULK, json={"action": action, "product_ids": ids}, user=admin)
        assert resp.status == 200, resp
        assert resp.json() == {"message": message}
    now = await statuses()
    assert now["Ergonomic Chair"] == now["Desk Lamp"] == now["Wool Rug"] == ("published", True)
    assert now["Oak Table"] == ("published", False)

    resp = await api.post(BULK, json={"action": "draft", "product_ids": [shop["chair"]]}, user=admin)
    assert resp.json() == {"message": "1 product moved to draft successfully"}
    resp = await api.post(BULK, json={"action": "unfeature", "product_ids": ids + [99999]}, user=admin)
    assert resp.json() == {"message": "3 products unfeatured successfully"}  # unknown ids are skipped
    assert (await statuses())["Ergonomic Chair"] == ("draft", False)


@pytest.mark.gen_test
async def test_bulk_delete(api, admin, shop):
    resp = await api.post(BULK, json={"action": "delete", "product_ids": [shop["chair"], shop["lamp"],
                                                                          shop["sofa"]]}, user=admin)
    assert resp.status == 200, resp
    assert resp.json() == {"message": "3 products deleted successfully"}
    assert set(await statuses()) == {"Oak Table", "Wool Rug"}
    assert await ProductVariation.select().where(ProductVariation.product == shop["chair"]).aio_count() == 0


@pytest.mark.gen_test
async def test_bulk_action_errors(api, admin, shop):
    for body in ({}, {"action": "delete"}, {"product_ids": [shop["chair"]]}, {"action": "delete", "product_ids": []}):
        out = assert_envelope(await api.post(BULK, json=body, user=admin), 400)
        assert out["error"] == "Action and product_ids are required"
        assert out["message"] == "Action and product_ids are required"
    out = assert_envelope(await api.post(BULK, json={"action": "explode", "product_ids": [shop["chair"]]},
                                         user=admin), 400)
    assert out["error"] == "Invalid action" and "action" in out["errors"]
    out = assert_envelope(await api.post(BULK, json={"action": "delete", "product_ids": ["x"]}, user=admin), 400)
    assert "product_ids" in out["errors"]
    assert len(await statuses()) == 5


@pytest.mark.gen_test
async def test_bulk_update_status(api, admin, shop):
    resp = await api.post("/api/products/bulk-update-status/", json={
        "product_ids": [shop["chair"], shop["table"], shop["lamp"]], "status": "draft"}, user=admin)
    assert resp.status == 200, resp
    assert resp.json() == {"success": True, "message": "3 products updated successfully"}
    assert {n for n, (s, _) in (await statuses()).items() if s == "draft"} == {"Ergonomic Chair", "Oak Table",
                                                                                  "Desk Lamp"}
    resp = await api.post("/api/products/bulk-update-status/", json={
        "product_ids": [shop["lamp"]], "status": "active"}, user=admin)
    assert resp.json()["message"] == "1 product updated successfully"
    assert (await statuses())["Desk Lamp"][0] == "published"

    out = assert_envelope(await api.post("/api/products/bulk-update-status/", json={
        "product_ids": [shop["rug"]], "status": "gone"}, user=admin), 400)
    assert out["errors"] == {"status": ['"gone" is not a valid choice.']}
    out = assert_envelope(await api.post("/api/products/bulk-update-status/", json={}, user=admin), 400)
    assert out["errors"] == {"product_ids": ["This field is required."], "status": ["This field is required."]}
    assert (await statuses())["Wool Rug"][0] == "archived"


# --- product search for the order form --------------------------------------------------------

SEARCH = "/api/product-search/"


@pytest.mark.gen_test
async def test_order_form_search(api, admin, shop):
    await make_product("Handmade Pouch", "HMP-001", stock=15, base_price="121.00",
                       description="Leather pouch, stitched by hand", main_image="https://img/pouch.jpg")
    resp = await api.get(SEARCH, params={"q": "pouch"}, user=admin)
    assert resp.status == 200, resp
    assert resp.json() == [{"id": resp.json()[0]["id"], "name": "Handmade Pouch", "sku": "HMP-001",
                            "price": "121.00", "stock_quantity": 15, "image": "https://img/pouch.jpg"}]
    assert [p["sku"] for p in (await api.get(SEARCH, params={"q": "hmp-0"}, user=admin)).json()] == ["HMP-001"]
    assert [p["sku"] for p in (await api.get(SEARCH, params={"q": "stitched"}, user=admin)).json()] == ["HMP-001"]
    # typo-tolerant on the name
    assert "Ergonomic Chair" in [p["name"] for p in (await api.get(SEARCH, params={"q": "ergonmic"},
                                                                    user=admin)).json()]
    # archived products cannot be ordered
    assert (await api.get(SEARCH, params={"q": "wool rug"}, user=admin)).json() == []


@pytest.mark.gen_test
async def test_order_form_search_needs_two_characters_and_returns_ten_at_most(api, admin):
    await make_products(15, prefix="Walnut Shelf")
    for q in ("", "w", " w "):
        resp = await api.get(SEARCH, params={"q": q}, user=admin)
        assert resp.status == 200 and resp.json() == []
    assert (await api.get(SEARCH, user=admin)).json() == []
    results = (await api.get(SEARCH, params={"q": "walnut"}, user=admin)).json()
    assert len(results) == 10
