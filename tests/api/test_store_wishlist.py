"""The wishlist: add/remove (by item and by product), move to cart, bulk delete,
ownership, is_liked on product payloads, stock notifications list/read."""
from __future__ import annotations

import pytest

from models.core.db import utcnow
from models.wishlist import StockNotification
from tests.support.client import assert_envelope
from tests.support.factories import product

PRODUCT_FIELDS = {"id", "wishlist_item_id", "name", "description", "main_image", "images", "price", "is_liked",
                  "status", "stock_quantity", "added_at"}


async def like(api, user, product_id):
    return await api.post("/api/wishlist-items/", json={"product": product_id}, user=user)


@pytest.mark.gen_test
async def test_wishlist_requires_authentication(api):
    assert_envelope(await api.get("/api/wishlist/"), 401)
    assert_envelope(await api.post("/api/wishlist-items/", json={"product": 1}), 401)


@pytest.mark.gen_test
async def test_add_to_wishlist_and_list_it(api, make_user):
    user = await make_user()
    assert (await api.get("/api/wishlist/", user=user)).json() == {"id": None, "user": user.id, "products": [],
                                                                     "products_count": 0}
    pid = await product("Oak Chair", base_price="99.99", images=2, description="Solid oak")
    resp = await like(api, user, pid)
    assert resp.status == 201, resp
    body = resp.json()
    assert set(body) == {"id", "wishlist", "product", "added_at", "product_details"}
    assert body["product"] == pid and body["added_at"].endswith("Z")
    assert body["product_details"]["is_liked"] is True and body["product_details"]["price"] == "99.99"
    assert len(body["product_details"]["images"]) == 2
    again = await like(api, user, pid)
    assert again.status == 200 and again.json()["id"] == body["id"]
    other = (await api.post("/api/wishlist-items/", json={"product_id": await product("Lamp")}, user=user)).json()
    wishlist = (await api.get("/api/wishlist/", user=user)).json()
    assert wishlist["id"] == body["wishlist"] and wishlist["products_count"] == 2
    assert [p["wishlist_item_id"] for p in wishlist["products"]] == [other["id"], body["id"]]  # latest first
    assert set(wishlist["products"][1]) == PRODUCT_FIELDS
    assert wishlist["products"][1]["description"] == "Solid oak" and wishlist["products"][1]["is_liked"] is True


@pytest.mark.gen_test
async def test_only_published_products_can_be_wishlisted(api, make_user):
    user = await make_user()
    assert_envelope(await like(api, user, await product(status="draft")), 404, "Product not found")
    assert_envelope(await like(api, user, 987654), 404)
    assert "product" in assert_envelope(await api.post("/api/wishlist-items/", json={}, user=user), 400)["errors"]
    assert_envelope(await like(api, user, "x"), 400)


@pytest.mark.gen_test
async def test_remove_by_item_id_and_by_product_id(api, make_user):
    user = await make_user()
    a, b = await product("A"), await product("B")
    item_a = (await like(api, user, a)).json()["id"]
    await like(api, user, b)
    assert (await api.delete(f"/api/wishlist-items/{item_a}/", user=user)).status == 204
    assert_envelope(await api.delete(f"/api/wishlist-items/{item_a}/", user=user), 404, "Wishlist item not found")
    resp = await api.delete(f"/api/wishlist-items/{b}/remove/", user=user)
    assert resp.status == 204 and resp.body == b""
    assert_envelope(await api.delete(f"/api/wishlist-items/{b}/remove/", user=user), 404)
    assert (await api.get("/api/wishlist/", user=user)).json()["products"] == []


@pytest.mark.gen_test
async def test_another_users_wishlist_item_is_not_found(api, make_user):
    alice, bob = await make_user(), await make_user()
    pid = await product()
    item = (await like(api, alice, pid)).json()["id"]
    assert_envelope(await api.delete(f"/api/wishlist-items/{item}/", user=bob), 404)
    assert_envelope(await api.delete(f"/api/wishlist-items/{pid}/remove/", user=bob), 404)
    assert_envelope(await api.post(f"/api/wishlist/move-to-cart/{item}/", json={}, user=bob), 404)
    assert (await api.post("/api/wishlist/bulk-delete/", json={"wishlist_item_ids": [item]}, user=bob)).status == 204
    assert (await api.get("/api/wishlist/", user=alice)).json()["products_count"] == 1


@pytest.mark.gen_test
async def test_move_to_cart(api, make_user):
    user = await make_user()
    pid = await product("Vase", stock=3, base_price="12.50")
    item = (await like(api, user, pid)).json()["id"]
    body = assert_envelope(await api.post(f"/api/wishlist/move-to-cart/{item}/", json={"quantity": 0}, user=user),
                           400, "Invalid wishlist item or quantity")
    assert "quantity" in body["errors"]
    assert_envelope(await api.post(f"/api/wishlist/move-to-cart/{item}/", json={"quantity": 5}, user=user),
                    400, "Only 3 left")
    assert (await api.get("/api/wishlist/", user=user)).json()["products_count"] == 1  # kept on a 400
    resp = await api.post(f"/api/wishlist/move-to-cart/{item}/", json={"wishlist_item_id": item, "quantity": 2},
                          user=user)
    assert resp.status == 201, resp
    assert resp.json()["success"] is True and resp.json()["message"] == "Item moved to cart successfully"
    assert resp.json()["cart_item"]["quantity"] == 2
    assert (await api.get("/api/wishlist/", user=user)).json()["products_count"] == 0
    assert (await api.get("/api/cart/", user=user)).json()["items"][0]["product"] == pid
    assert_envelope(await api.post(f"/api/wishlist/move-to-cart/{item}/", json={}, user=user), 404)


@pytest.mark.gen_test
async def test_bulk_delete(api, make_user):
    user = await make_user()
    ids = [(await like(api, user, await product(f"P{i}"))).json()["id"] for i in range(3)]
    resp = await api.post("/api/wishlist/bulk-delete/", json={"wishlist_item_ids": ids[:2] + [99999]}, user=user)
    assert resp.status == 204
    assert [p["wishlist_item_id"] for p in (await api.get("/api/wishlist/", user=user)).json()["products"]] == ids[2:]
    assert "wishlist_item_ids" in assert_envelope(
        await api.post("/api/wishlist/bulk-delete/", json={"wishlist_item_ids": []}, user=user), 400)["errors"]
    assert_envelope(await api.post("/api/wishlist/bulk-delete/", json={"wishlist_item_ids": "1"}, user=user), 400)


@pytest.mark.gen_test
async def test_is_liked_on_product_payloads_one_query_per_page(api, make_user, count_queries):
    user = await make_user()
    ids = [await product(f"Item {i}") for i in range(6)]
    for pid in ids[:3]:
        await like(api, user, pid)
    listing = (await api.get("/api/products/", user=user)).json()["results"]
    assert {p["id"] for p in listing if p["is_liked"]} == set(ids[:3])
    assert not any(p["is_liked"] for p in (await api.get("/api/products/")).json()["results"])
    assert (await api.get(f"/api/products/{ids[0]}/", user=user)).json()["is_liked"] is True
    assert (await api.get(f"/api/products/{ids[5]}/", user=user)).json()["is_liked"] is False
    for size in (2, 6):
        with count_queries() as q:
            await api.get("/api/products/", params={"page_size": size}, user=user)
        assert len(q) == 3, q  # user, page, liked ids


@pytest.mark.gen_test
async def test_wishlist_read_is_one_query(api, make_user, count_queries):
    user = await make_user()
    for n in (1, 8):
        for i in range(n):
            await like(api, user, await product(f"W{n}-{i}", images=2))
        with count_queries() as q:
            assert (await api.get("/api/wishlist/", user=user)).status == 200
        assert len(q) == 2, q  # the user, the wishlist


@pytest.mark.gen_test
async def test_stock_notifications_list_and_mark_read(api, make_user):
    alice, bob = await make_user(), await make_user()
    pid = await product("Oak Chair")
    now = utcnow()
    first = await StockNotification.aio_create(user=alice.id, product=pid, notification_type="BACK_IN_STOCK",
                                               message="Oak Chair is back in stock!", created_at=now)
    second = await StockNotification.aio_create(user=alice.id, product=pid, notification_type="PRICE_DROP",
                                                message="Oak Chair is now 90.00 (was 100.00)", created_at=now,
                                                old_price="100.00", new_price="90.00")
    listing = (await api.get("/api/wishlist/stock-notifications/", user=alice)).json()
    assert [n["id"] for n in listing] == [second.id, first.id]
    assert listing[1] == {"id": first.id, "notification_type": "BACK_IN_STOCK",
                          "message": "Oak Chair is back in stock!", "is_read": False,
                          "created_at": listing[1]["created_at"], "product": pid, "variation": None,
                          "old_price": None, "new_price": None}
    assert listing[0]["old_price"] == "100.00"
    assert (await api.get("/api/wishlist/stock-notifications/", user=bob)).json() == []
    assert_envelope(await api.post(f"/api/wishlist/stock-notifications/{first.id}/read/", user=bob), 404)
    read = await api.post(f"/api/wishlist/stock-notifications/{first.id}/read/", user=alice)
    assert read.status == 200 and read.json()["is_read"] is True
    unread = (await api.get("/api/wishlist/stock-notifications/", params={"unread": "1"}, user=alice)).json()
    assert [n["id"] for n in unread] == [second.id]
    marked = (await api.post("/api/wishlist/stock-notifications/mark-all-read/", user=alice)).json()
    assert marked == {"success": True, "updated": 1}
