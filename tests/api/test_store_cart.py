"""The cart: lines per product + variation, stock rules, totals with promo
codes, concurrency, ownership, query counts, and price_cart for checkout."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

import settings
from models.cart import Cart, PromoCode, clear_cart, price_cart, redeem_promo_code
from models.cart.promo import PromoCodeRejected
from models.core.db import utcnow
from models.core.errors import ValidationFailed
from models.shipping import ShippingMethod
from tests.support.client import assert_envelope
from tests.support.factories import product, variation

ITEM_FIELDS = {"cart_item_id", "product", "variation", "variation_name", "quantity", "product_name", "sku",
               "product_price", "line_total", "stock_status", "stock_quantity", "product_image", "stock_policy",
               "expected_ship_date"}


async def add(api, user, product_id, quantity=1, **extra):
    return await api.post("/api/cart/add-item/", json={"product_id": product_id, "quantity": quantity, **extra},
                          user=user)


async def promo(code="SUMMER20", pct="20.00", **fields) -> PromoCode:
    now = utcnow()
    return await PromoCode.aio_create(code=code, discount_percentage=Decimal(pct), created_at=now, updated_at=now,
                                      **fields)


@pytest.mark.gen_test
async def test_cart_requires_authentication(api):
    assert_envelope(await api.get("/api/cart/"), 401)
    assert_envelope(await api.post("/api/cart/add-item/", json={"product_id": 1}), 401)


@pytest.mark.gen_test
async def test_empty_cart_has_the_spec_shape(api, make_user):
    user = await make_user()
    body = (await api.get("/api/cart/", user=user)).json()
    assert body["items"] == [] and body["user"] == user.id and body["subtotal"] == "0.00"
    assert body["total"] == "0.00" and body["promo_code"] is None
    summary = (await api.get("/api/cart/summary/", user=user)).json()
    assert summary["total_items"] == 0 and summary["items_count"] == 0 and summary["total_price"] == "0.00"


@pytest.mark.gen_test
async def test_add_item_returns_the_line_and_adding_again_grows_it(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair", base_price="99.99", images=1)
    resp = await add(api, user, pid)
    assert resp.status == 201, resp
    body = resp.json()
    assert body["success"] is True and body["message"] == "Item added to cart"
    line = body["cart_item"]
    assert set(line) == ITEM_FIELDS
    assert line["product"] == pid and line["quantity"] == 1 and line["product_name"] == "Oak Chair"
    assert line["product_price"] == "99.99" and line["stock_status"] == "active"
    assert line["product_image"].endswith(".jpg")
    again = (await add(api, user, pid, 2)).json()["cart_item"]
    assert again["cart_item_id"] == line["cart_item_id"] and again["quantity"] == 3
    cart = (await api.get("/api/cart/", user=user)).json()
    assert len(cart["items"]) == 1 and cart["items"][0]["quantity"] == 3
    assert cart["subtotal"] == "299.97" and cart["total_items"] == 3 and cart["items_count"] == 1
    assert cart["created_at"].endswith("Z")


@pytest.mark.gen_test
async def test_variations_are_separate_lines_priced_with_their_adjustment(api, make_user):
    user = await make_user()
    pid = await product("Sofa", base_price="200.00", discount_type="percentage", discount_value="10")
    await add(api, user, pid, 1)  # a line from before the product had variations
    red = await variation(pid, "Red", adjustment="15.50", stock=3)
    blue = await variation(pid, "Blue", adjustment="-5.00", stock=3)
    assert_envelope(await add(api, user, pid, 1), 400)  # now one must be chosen
    r = (await add(api, user, pid, 2, variation_id=red)).json()["cart_item"]
    b = (await add(api, user, pid, 1, variation_id=blue)).json()["cart_item"]
    assert r["product_price"] == "195.50" and r["line_total"] == "391.00" and r["variation_name"] == "Red"
    assert b["product_price"] == "175.00"
    cart = (await api.get("/api/cart/", user=user)).json()
    assert [i["variation"] for i in cart["items"]] == [None, red, blue]
    assert cart["subtotal"] == "746.00"  # 180 + 391 + 175


@pytest.mark.gen_test
async def test_stock_rules(api, make_user):
    user = await make_user()
    sold_out = await product("Gone", stock=0)
    assert_envelope(await add(api, user, sold_out), 400, "Product is out of stock")
    few = await product("Few", stock=3)
    body = assert_envelope(await add(api, user, few, 4), 400, "Only 3 left")
    assert "quantity" in body["errors"]
    assert (await add(api, user, few, 2)).status == 201
    assert_envelope(await add(api, user, few, 2), 400, "Only 3 left")
    cart = (await api.get("/api/cart/", user=user)).json()
    assert cart["items"][0]["quantity"] == 2  # nothing changed on the 400
    pid = await product("Varied", stock=50)
    empty_variation = await variation(pid, "Red", stock=0)
    assert_envelope(await add(api, user, pid, 1, variation_id=empty_variation), 400, "Product is out of stock")


@pytest.mark.gen_test
async def test_drafts_archived_unknown_and_foreign_variations_cannot_be_added(api, make_user):
    user = await make_user()
    for status in ("draft", "archived"):
        pid = await product(status, status=status)
        assert_envelope(await add(api, user, pid), 404, "Product not found")
    assert_envelope(await add(api, user, 999999), 404, "Product not found")
    one, other = await product("One"), await product("Other")
    foreign = await variation(other, "Red")
    body = assert_envelope(await add(api, user, one, 1, variation_id=foreign), 400)
    assert "variation_id" in body["errors"]
    assert_envelope(await add(api, user, await product("Gone", stock=0)), 400, "Product is out of stock")
    # Nothing was written on any of these 4xx: not even the cart a first add creates.
    assert not await Cart.select().where(Cart.user == user.id).aio_exists()


@pytest.mark.gen_test
async def test_bad_input_is_a_400_with_field_errors(api, make_user):
    user = await make_user()
    pid = await product()
    assert "product_id" in assert_envelope(await api.post("/api/cart/add-item/", json={}, user=user), 400)["errors"]
    for qty in (0, -1, "x", None):
        body = assert_envelope(await add(api, user, pid, qty), 400)
        assert "quantity" in body["errors"], qty
    assert_envelope(await api.post("/api/cart/add-item/", body=b"{nope", user=user,
                                   headers={"Content-Type": "application/json"}), 400)
    body = assert_envelope(await add(api, user, pid, 10001), 400)
    assert body["errors"] == {"quantity": ["Ensure this value is less than or equal to 10000."]}
    assert_envelope(await add(api, user, "abc"), 400)


@pytest.mark.gen_test(timeout=120)
async def test_25_concurrent_adds_give_exactly_25_on_one_line(api, make_user):
    user = await make_user()
    pid = await product("Hot", stock=100)
    responses = await asyncio.gather(*[add(api, user, pid, 1) for _ in range(25)])
    assert [r.status for r in responses] == [201] * 25, [r for r in responses if r.status != 201]
    cart = (await api.get("/api/cart/", user=user)).json()
    assert len(cart["items"]) == 1 and cart["items"][0]["quantity"] == 25


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_adds_stop_cleanly_at_the_stock(api, make_user):
    user = await make_user()
    pid = await product("Scarce", stock=10)
    responses = await asyncio.gather(*[add(api, user, pid, 1) for _ in range(25)])
    assert sorted(r.status for r in responses) == [201] * 10 + [400] * 15
    for r in responses:
        if r.status == 400:
            assert_envelope(r, 400, "Only 10 left")
    cart = (await api.get("/api/cart/", user=user)).json()
    assert cart["items"][0]["quantity"] == 10


@pytest.mark.gen_test
async def test_update_quantity_by_product_variation_or_item_id(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=5)
    plain = (await add(api, user, pid)).json()["cart_item"]  # from before the product had variations
    red = await variation(pid, "Red", stock=2)
    colored = (await add(api, user, pid, 1, variation_id=red)).json()["cart_item"]
    resp = await api.post("/api/cart/update-quantity/", json={"product_id": pid, "quantity": 4}, user=user)
    assert resp.status == 200 and resp.json()["message"] == "Quantity updated"
    assert resp.json()["cart_item"]["cart_item_id"] == plain["cart_item_id"]
    assert resp.json()["cart_item"]["quantity"] == 4
    resp = await api.post("/api/cart/update-quantity/", json={"product_id": pid, "variation_id": red, "quantity": 2},
                          user=user)
    assert resp.json()["cart_item"]["quantity"] == 2
    assert_envelope(await api.post("/api/cart/update-quantity/",
                                   json={"item_id": colored["cart_item_id"], "quantity": 3}, user=user),
                    400, "Only 2 left")
    assert_envelope(await api.post("/api/cart/update-quantity/", json={"product_id": pid, "quantity": 0},
                                   user=user), 400)
    assert_envelope(await api.post("/api/cart/update-quantity/", json={"product_id": 424242, "quantity": 1},
                                   user=user), 404, "Item not found in cart")


@pytest.mark.gen_test
async def test_a_product_with_several_variation_lines_needs_the_variation(api, make_user):
    user = await make_user()
    pid = await product("Rug")
    a, b = await variation(pid, "A"), await variation(pid, "B")
    await add(api, user, pid, 1, variation_id=a)
    await add(api, user, pid, 1, variation_id=b)
    body = assert_envelope(await api.post("/api/cart/remove-item/", json={"product_id": pid}, user=user), 400)
    assert "variation_id" in body["errors"]
    assert (await api.post("/api/cart/remove-item/", json={"product_id": pid, "variation_id": a},
                           user=user)).status == 204
    # one line left: the product alone names it
    assert (await api.post("/api/cart/remove-item/", json={"product_id": pid}, user=user)).status == 204
    assert (await api.get("/api/cart/", user=user)).json()["items"] == []


@pytest.mark.gen_test
async def test_another_users_cart_line_is_not_found(api, make_user):
    alice, bob = await make_user(), await make_user()
    pid = await product()
    line = (await add(api, alice, pid)).json()["cart_item"]
    assert_envelope(await api.post("/api/cart/update-quantity/", json={"item_id": line["cart_item_id"], "quantity": 2},
                                   user=bob), 404)
    assert_envelope(await api.post("/api/cart/remove-item/", json={"item_id": line["cart_item_id"]}, user=bob), 404)
    assert_envelope(await api.post("/api/cart/remove-item/", json={"product_id": pid}, user=bob), 404)
    assert (await api.get("/api/cart/", user=alice)).json()["items"][0]["quantity"] == 1


@pytest.mark.gen_test
async def test_clear_cart(api, make_user):
    user = await make_user()
    await add(api, user, await product())
    await add(api, user, await product())
    resp = await api.post("/api/cart/clear/", user=user)
    assert resp.status == 200 and resp.json() == {"success": True, "message": "Cart cleared successfully"}
    assert (await api.get("/api/cart/", user=user)).json()["items"] == []


@pytest.mark.gen_test
async def test_promo_code_applies_and_shows_in_cart_and_summary(api, make_user):
    user = await make_user()
    pid = await product(base_price="99.99")
    await add(api, user, pid, 2)
    await promo("SUMMER20", "20.00")
    resp = await api.post("/api/cart/apply-discount/", json={"code": "summer20"}, user=user)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["success"] is True and body["message"] == "Discount applied successfully"
    assert body["discount_percentage"] == "20.00"
    assert body["total_before_discount"] == "199.98" and body["total_after_discount"] == "159.98"
    cart = (await api.get("/api/cart/", user=user)).json()
    assert cart["subtotal"] == "199.98" and cart["discount"] == "40.00" and cart["total"] == "159.98"
    assert cart["promo_code"] == {"code": "SUMMER20", "discount_percentage": "20.00", "is_valid": True,
                                  "message": None, "discount_type": "percentage", "applied": True}
    summary = (await api.get("/api/cart/summary/", user=user)).json()
    assert summary["total_price"] == "159.98" and summary["discount"] == "40.00"
    assert (await api.delete("/api/cart/apply-discount/", user=user)).status == 204
    assert (await api.get("/api/cart/summary/", user=user)).json()["total_price"] == "199.98"


@pytest.mark.gen_test
async def test_discount_rounds_half_up(api, make_user):
    user = await make_user()
    await add(api, user, await product(base_price="0.25"))  # 10 % of 0.25 = 0.025 → 0.03
    await promo("TEN", "10.00")
    body = (await api.post("/api/cart/apply-discount/", json={"code": "TEN"}, user=user)).json()
    assert body["discount_amount"] == "0.03" and body["total_after_discount"] == "0.22"


@pytest.mark.gen_test
async def test_promo_code_rules(api, make_user):
    user = await make_user()
    assert_envelope(await api.post("/api/cart/apply-discount/", json={"code": "X"}, user=user), 400, "Cart is empty")
    await add(api, user, await product(base_price="50.00"))
    now = utcnow()
    await promo("OFF", is_active=False)
    await promo("LATER", valid_from=now + dt.timedelta(days=1))
    await promo("OLD", valid_to=now - dt.timedelta(days=1))
    await promo("USED", usage_limit=2, times_used=2)
    await promo("BIG", min_order_amount=Decimal("100.00"))
    cases = {"NOPE": "Invalid promo code", "OFF": "Invalid promo code",
             "LATER": "This promo code is not valid yet", "OLD": "This promo code has expired",
             "USED": "This promo code has reached its usage limit",
             "BIG": "A minimum order of 100.00 is required for this promo code"}
    for code, message in cases.items():
        body = assert_envelope(await api.post("/api/cart/apply-discount/", json={"code": code}, user=user), 400,
                               message)
        assert body["errors"] == {"code": [message]}
    assert "code" in assert_envelope(await api.post("/api/cart/apply-discount/", json={}, user=user), 400)["errors"]
    assert (await api.get("/api/cart/", user=user)).json()["promo_code"] is None


@pytest.mark.gen_test
async def test_an_applied_code_that_stops_applying_gives_no_discount(api, make_user):
    user = await make_user()
    pid = await product(base_price="60.00")
    await add(api, user, pid, 2)
    await promo("MIN100", min_order_amount=Decimal("100.00"))
    assert (await api.post("/api/cart/apply-discount/", json={"code": "MIN100"}, user=user)).status == 200
    await api.post("/api/cart/update-quantity/", json={"product_id": pid, "quantity": 1}, user=user)
    cart = (await api.get("/api/cart/", user=user)).json()
    assert cart["discount"] == "0.00" and cart["total"] == "60.00"
    assert cart["promo_code"]["is_valid"] is False
    with pytest.raises(ValidationFailed):
        await price_cart(user.id)


@pytest.mark.gen_test
async def test_cart_reads_take_a_fixed_number_of_queries(api, make_user, count_queries):
    user = await make_user()
    await promo("Q10", "10.00")
    for n in (1, 12):
        await api.post("/api/cart/clear/", user=user)
        for i in range(n):
            pid = await product(f"P{n}-{i}", images=2)
            await add(api, user, pid, 1, **({"variation_id": await variation(pid, "V")} if i % 2 else {}))
        await api.post("/api/cart/apply-discount/", json={"code": "Q10"}, user=user)
        for path in ("/api/cart/", "/api/cart/summary/"):
            with count_queries() as q:
                resp = await api.get(path, user=user)
            assert resp.status == 200
            assert len(q) == 1, (n, path, q)  # the user and the cart in one statement (a ride-along read)


@pytest.mark.gen_test
async def test_add_item_takes_two_queries(api, make_user, count_queries):
    user = await make_user()
    pid = await product()
    with count_queries() as q:
        assert (await add(api, user, pid)).status == 201
    assert len(q) == 2, q  # the user; the product's checks, the cart and the line upsert in one statement


@pytest.mark.gen_test
async def test_price_cart_totals_with_promo_shipping_and_tax(make_user, monkeypatch):
    user = await make_user()
    pid = await product(base_price="100.00", discount_type="fixed", discount_value="10.00")
    await _add_direct(user.id, pid, 2)  # from before the product had variations
    v = await variation(pid, "XL", adjustment="5.55", stock=10)
    await _add_direct(user.id, pid, 1, v)
    code = await promo("TAKE15", "15.00")
    now = utcnow()
    method = await ShippingMethod.aio_create(name="Std", price=Decimal("4.99"), estimated_days=5, created_at=now,
                                             updated_at=now)
    monkeypatch.setattr(settings, "TAX_RATE", Decimal("0.075"))
    quote = await price_cart(user.id, shipping_method_id=method.id, promo_code="take15")
    assert quote.subtotal == Decimal("275.55")  # 2 × 90 + 95.55
    assert quote.discount == Decimal("41.33")  # 41.3325
    assert quote.shipping == Decimal("4.99")
    assert quote.tax == Decimal("17.57")  # 7.5 % of 234.22 = 17.5665
    assert quote.total == Decimal("256.78")
    assert quote.promo_code_id == code.id and quote.shipping_method_id == method.id
    assert [(x.quantity, x.unit_price, x.line_total) for x in quote.lines] == [
        (2, Decimal("90.00"), Decimal("180.00")), (1, Decimal("95.55"), Decimal("95.55"))]
    assert quote.lines[1].variation_id == v and quote.lines[0].sku.startswith("SKU-")
    with pytest.raises(ValidationFailed, match="Invalid shipping method"):
        await price_cart(user.id, shipping_method_id=999)
    with pytest.raises(ValidationFailed, match="Invalid promo code"):
        await price_cart(user.id, promo_code="NOPE")


@pytest.mark.gen_test
async def test_price_cart_uses_the_applied_code_and_refuses_an_empty_cart(api, make_user):
    user = await make_user()
    with pytest.raises(ValidationFailed, match="Cart is empty"):
        await price_cart(user.id)
    await add(api, user, await product(base_price="10.00"))
    code = await promo("HALF", "50.00")
    await api.post("/api/cart/apply-discount/", json={"code": "HALF"}, user=user)
    quote = await price_cart(user.id)
    assert quote.promo_code_id == code.id and quote.total == Decimal("5.00") and quote.shipping == 0
    await clear_cart(user.id)
    with pytest.raises(ValidationFailed, match="Cart is empty"):
        await price_cart(user.id)


@pytest.mark.gen_test
async def test_price_cart_refuses_withdrawn_or_short_lines(api, make_user):
    from models.catalog.tables import Product

    user = await make_user()
    pid = await product("Desk", stock=5)
    await add(api, user, pid, 4)
    await Product.update(stock_quantity=2).where(Product.id == pid).aio_execute()
    with pytest.raises(ValidationFailed, match="Desk: Only 2 left"):
        await price_cart(user.id)
    assert (await api.get("/api/cart/", user=user)).json()["items"][0]["stock_status"] == "insufficient_stock"
    await Product.update(status="archived").where(Product.id == pid).aio_execute()
    with pytest.raises(ValidationFailed, match="no longer available"):
        await price_cart(user.id)


@pytest.mark.gen_test(timeout=60)
async def test_redeem_promo_code_is_atomic_at_the_limit(make_user):
    from models.core.db import db

    code = await promo("LAST3", usage_limit=3)

    async def one():
        try:
            async with db.aio_atomic():
                await redeem_promo_code(code.id)
            return True
        except PromoCodeRejected as exc:
            assert exc.status == 400 and "usage limit" in exc.message
            return False

    results = await asyncio.gather(*[one() for _ in range(8)])
    assert results.count(True) == 3
    assert (await PromoCode.aio_get(PromoCode.id == code.id)).times_used == 3


async def _add_direct(user_id, product_id, quantity, variation_id=None):
    from models.cart import add_item

    return await add_item(user_id, product_id, quantity, variation_id)


@pytest.mark.gen_test
async def test_cart_interfaces_work_inside_the_callers_transaction(make_user):
    """Orders call price_cart, redeem_promo_code, clear_cart and
    mark_cart_converted in their own transaction: all on its connection, all
    undone by its rollback."""
    from models.cart import load_cart, mark_cart_converted
    from models.core.db import transaction

    user = await make_user()
    pid = await product(base_price="10.00")
    code = await promo("TXN", "10.00", usage_limit=1)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        async with transaction():
            await _add_direct(user.id, pid, 3)  # uncommitted: only this connection sees it
            quote = await price_cart(user.id, promo_code="txn")
            assert quote.total == Decimal("27.00")
            await redeem_promo_code(code.id)
            await clear_cart(user.id)
            await mark_cart_converted(user.id, 1)
            assert not (await load_cart(user.id)).rows
            raise Rollback
    assert (await PromoCode.aio_get(PromoCode.id == code.id)).times_used == 0
    assert (await load_cart(user.id)).rows == []
