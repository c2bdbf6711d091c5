"""Staff CRUD of categories, tags, sizes and colors, and the form dropdown lists."""
from __future__ import annotations

import pytest

from models.catalog.tables import Category, Color, Product, Size, Tag
from tests.support.client import assert_envelope
from tests.support.factories import make_category, make_product


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True))


# --- categories ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_category_crud(api, admin):
    resp = await api.post("/api/categories/", json={"name": "Living Room", "description": "Sofas and more"},
                          user=admin)
    assert resp.status == 201, resp
    living = resp.json()
    assert living == {"id": living["id"], "name": "Living Room", "slug": "living-room", "parent": None,
                      "description": "Sofas and more"}

    resp = await api.post("/api/categories/", json={"name": "Sofas", "parent": living["id"]}, user=admin)
    sofas = resp.json()
    assert resp.status == 201 and sofas["parent"] == living["id"] and sofas["slug"] == "sofas"

    listing = (await api.get("/api/categories/", user=admin)).json()
    assert [c["name"] for c in listing] == ["Living Room", "Sofas"]

    assert (await api.get(f"/api/categories/{sofas['id']}/", user=admin)).json() == sofas

    resp = await api.patch(f"/api/categories/{sofas['id']}/", json={"name": "Couches"}, user=admin)
    assert resp.status == 200, resp
    assert resp.json()["name"] == "Couches" and resp.json()["parent"] == living["id"]
    assert resp.json()["slug"] == "sofas"  # the slug stays, so links keep working

    resp = await api.put(f"/api/categories/{sofas['id']}/", json={"name": "Sofas"}, user=admin)
    assert resp.status == 200 and resp.json()["parent"] is None and resp.json()["description"] == ""

    resp = await api.delete(f"/api/categories/{sofas['id']}/", user=admin)
    assert resp.status == 204 and resp.body == b""
    assert_envelope(await api.get(f"/api/categories/{sofas['id']}/", user=admin), 404)
    assert_envelope(await api.delete(f"/api/categories/{sofas['id']}/", user=admin), 404)


@pytest.mark.gen_test
async def test_category_slug_is_unique(api, admin):
    first = (await api.post("/api/categories/", json={"name": "Chairs"}, user=admin)).json()
    second = (await api.post("/api/categories/", json={"name": "chairs"}, user=admin)).json()
    assert (first["slug"], second["slug"]) == ("chairs", "chairs-2")


@pytest.mark.gen_test
async def test_post_to_product_categories_creates_too(api, admin, make_user):
    resp = await api.post("/api/products/categories/", json={"name": "Lighting"}, user=admin)
    assert resp.status == 201, resp
    assert resp.json()["slug"] == "lighting"
    shopper = await make_user(email="s@example.com")
    assert_envelope(await api.post("/api/products/categories/", json={"name": "X"}, user=shopper), 403)


@pytest.mark.gen_test
async def test_category_validation(api, admin):
    body = assert_envelope(await api.post("/api/categories/", json={}, user=admin), 400)
    assert body["errors"] == {"name": ["This field is required."]}
    body = assert_envelope(await api.post("/api/categories/", json={"name": "  "}, user=admin), 400)
    assert body["errors"] == {"name": ["This field may not be blank."]}
    body = assert_envelope(await api.post("/api/categories/", json={"name": "X", "parent": 999}, user=admin), 400)
    assert body["errors"] == {"parent": ['Invalid pk "999" - object does not exist.']}
    assert await Category.select().aio_count() == 0


@pytest.mark.gen_test
async def test_category_parent_cannot_make_a_cycle(api, admin):
    a = await make_category("A")
    b = await make_category("B", parent=a)
    c = await make_category("C", parent=b)
    for target, parent in ((a, c), (a, b), (a, a)):
        body = assert_envelope(await api.patch(f"/api/categories/{target}/", json={"parent": parent}, user=admin),
                               400)
        assert list(body["errors"]) == ["parent"]
    assert (await Category.aio_get(Category.id == a)).parent_id is None
    # Moving a leaf elsewhere is fine.
    resp = await api.patch(f"/api/categories/{c}/", json={"parent": a}, user=admin)
    assert resp.status == 200 and resp.json()["parent"] == a


@pytest.mark.gen_test
async def test_deleting_a_category_keeps_its_products_and_children(api, admin):
    parent = await make_category("Parent")
    child = await make_category("Child", parent=parent)
    product = await make_product("Lamp", "L-1", category=parent)
    assert (await api.delete(f"/api/categories/{parent}/", user=admin)).status == 204
    assert (await Product.aio_get(Product.id == product)).category_id is None
    assert (await Category.aio_get(Category.id == child)).parent_id is None


@pytest.mark.gen_test
async def test_category_endpoints_are_admin_only(api, make_user):
    shopper = await make_user(email="s@example.com")
    cat = await make_category("Chairs")
    for method, path in (("get", "/api/categories/"), ("post", "/api/categories/"),
                         ("get", f"/api/categories/{cat}/"), ("put", f"/api/categories/{cat}/"),
                         ("patch", f"/api/categories/{cat}/"), ("delete", f"/api/categories/{cat}/")):
        kwargs = {"json": {"name": "X"}} if method in ("post", "put", "patch") else {}
        assert_envelope(await getattr(api, method)(path, **kwargs), 401)
        assert_envelope(await getattr(api, method)(path, user=shopper, **kwargs), 403)
    assert (await Category.aio_get(Category.id == cat)).name == "Chairs"


# --- tags, sizes, colors ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_tag_crud_with_slug_and_unique_name(api, admin):
    resp = await api.post("/api/tags/", json={"name": "Best Seller"}, user=admin)
    assert resp.status == 201, resp
    tag = resp.json()
    assert tag == {"id": tag["id"], "name": "Best Seller", "slug": "best-seller"}
    body = assert_envelope(await api.post("/api/tags/", json={"name": "best seller"}, user=admin), 400)
    assert body["errors"] == {"name": ["Tag with this name already exists."]}
    resp = await api.patch(f"/api/tags/{tag['id']}/", json={"name": "Top Seller"}, user=admin)
    assert resp.status == 200 and resp.json()["name"] == "Top Seller"
    assert (await api.get(f"/api/tags/{tag['id']}/", user=admin)).json()["name"] == "Top Seller"
    assert [t["name"] for t in (await api.get("/api/tags/", user=admin)).json()] == ["Top Seller"]
    assert (await api.delete(f"/api/tags/{tag['id']}/", user=admin)).status == 204
    assert await Tag.select().aio_count() == 0


@pytest.mark.gen_test
async def test_size_crud(api, admin):
    ids = []
    for name in ("Small", "Medium", "Large"):
        resp = await api.post("/api/sizes/", json={"name": name}, user=admin)
        assert resp.status == 201, resp
        ids.append(resp.json()["id"])
    assert_envelope(await api.post("/api/sizes/", json={"name": "Small"}, user=admin), 400)
    resp = await api.put(f"/api/sizes/{ids[1]}/", json={"name": "Medium Plus"}, user=admin)
    assert resp.json() == {"id": ids[1], "name": "Medium Plus"}
    # Renaming to another size's name is refused.
    assert_envelope(await api.patch(f"/api/sizes/{ids[1]}/", json={"name": "Large"}, user=admin), 400)
    assert (await api.delete(f"/api/sizes/{ids[0]}/", user=admin)).status == 204
    assert await Size.select().aio_count() == 2
    assert_envelope(await api.get("/api/sizes/999/", user=admin), 404)


@pytest.mark.gen_test
async def test_color_crud_validates_hex_code(api, admin):
    resp = await api.post("/api/colors/", json={"name": "Red", "hex_code": "#ff0000"}, user=admin)
    assert resp.status == 201, resp
    red = resp.json()
    assert red == {"id": red["id"], "name": "Red", "hex_code": "#FF0000"}
    for bad in ("#FFF", "red", "FF0000", "#GG0000", None):
        body = assert_envelope(await api.post("/api/colors/", json={"name": "X", "hex_code": bad}, user=admin), 400)
        assert list(body["errors"]) == ["hex_code"], bad
    assert_envelope(await api.post("/api/colors/", json={"name": "Blue"}, user=admin), 400)
    resp = await api.patch(f"/api/colors/{red['id']}/", json={"hex_code": "#AA0000"}, user=admin)
    assert resp.status == 200 and resp.json()["hex_code"] == "#AA0000" and resp.json()["name"] == "Red"
    assert_envelope(await api.patch(f"/api/colors/{red['id']}/", json={"hex_code": "nope"}, user=admin), 400)
    assert (await Color.aio_get(Color.id == red["id"])).hex_code == "#AA0000"
    assert (await api.delete(f"/api/colors/{red['id']}/", user=admin)).status == 204


@pytest.mark.gen_test
async def test_taxonomy_crud_is_admin_only(api, make_user):
    shopper = await make_user(email="s@example.com")
    for path in ("/api/tags/", "/api/sizes/", "/api/colors/"):
        assert_envelope(await api.get(path), 401)
        assert_envelope(await api.post(path, json={"name": "X", "hex_code": "#000000"}, user=shopper), 403)
        assert_envelope(await api.delete(path + "1/", user=shopper), 403)


# --- lists for the product form -------------------------------------------------------------

@pytest.mark.gen_test
async def test_product_form_lists_are_plain_arrays(api, admin, make_user):
    for name in ("New", "Featured"):
        await api.post("/api/tags/", json={"name": name}, user=admin)
    for name in ("Small", "Medium", "Large"):
        await api.post("/api/sizes/", json={"name": name}, user=admin)
    for name, hex_code in (("Red", "#FF0000"), ("Blue", "#0000FF")):
        await api.post("/api/colors/", json={"name": name, "hex_code": hex_code}, user=admin)

    tags = (await api.get("/api/products/tags/", user=admin)).json()
    assert [(t["name"], t["slug"]) for t in tags] == [("Featured", "featured"), ("New", "new")]
    assert all(set(t) == {"id", "name", "slug"} for t in tags)
    sizes = (await api.get("/api/products/sizes/", user=admin)).json()
    assert [s["name"] for s in sizes] == ["Small", "Medium", "Large"]
    assert all(set(s) == {"id", "name"} for s in sizes)
    colors = (await api.get("/api/products/colors/", user=admin)).json()
    assert [(c["name"], c["hex_code"]) for c in colors] == [("Blue", "#0000FF"), ("Red", "#FF0000")]

    shopper = await make_user(email="s@example.com")
    for path in ("/api/products/tags/", "/api/products/sizes/", "/api/products/colors/"):
        assert_envelope(await api.get(path, user=shopper), 403)
        assert_envelope(await api.get(path), 401)
