"""Promotions (issue 22, item 4): fixed-amount and free-shipping codes, codes
scoped to categories (with subcategories) and products, automatic promotions
with start/end, per-customer limits (atomic under concurrency), minimum
subtotal; the best discount chosen deterministically and explained in
``discount_lines`` of the cart, the apply answer and the checkout; the order
records the promotion applied, and a cancelled order gives its use back."""
from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from models import cart
from models.cart.promo import Candidate, PricedItem, best_discount, candidates
from models.core.db import fetch_one, utcnow
from tests.api.test_store_checkout import ADDRESS, initiate, pay, shipping_method
from tests.support.client import assert_envelope
from tests.support.factories import category, count, product


async def create(api, admin, **fields):
    resp = await api.post("/api/promo-codes/", json=fields, user=admin)
    assert resp.status == 201, resp
    return resp.json()


async def add(user_id, product_id, quantity=1):
    await cart.add_item(user_id, product_id, quantity)


@pytest.mark.gen_test
async def test_staff_create_every_kind_and_bad_ones_are_400(api, make_user):
    admin = await make_user(is_staff=True)
    cat = await category("Chairs")
    fixed = await create(api, admin, code="take25", discount_type="fixed", discount_amount="25")
    assert fixed["code"] == "TAKE25" and fixed["discount_amount"] == "25.00" and fixed["discount_percentage"] is None
    ship = await create(api, admin, code="SHIPFREE", discount_type="free_shipping", min_order_amount="100")
    assert ship["discount_type"] == "free_shipping"
    auto = await create(api, admin, name="Chair week", automatic=True, discount_percentage="15",
                        category_ids=[cat], valid_from="2020-01-01T00:00:00Z", per_customer_limit=2)
    assert auto["code"] is None and auto["automatic"] is True and auto["category_ids"] == [cat]
    assert auto["per_customer_limit"] == 2 and auto["include_subcategories"] is True
    for bad, field in [({"code": "X1", "discount_type": "fixed"}, "discount_amount"),
                       ({"code": "X2"}, "discount_percentage"),
                       ({"automatic": True, "discount_percentage": "5"}, "name"),
                       ({"automatic": True, "name": "n", "code": "X3", "discount_percentage": "5"}, "code"),
                       ({"discount_percentage": "5"}, "code"),
                       ({"code": "X4", "discount_percentage": "5", "category_ids": [999999]}, "category_ids"),
                       ({"code": "X5", "discount_percentage": "5", "per_customer_limit": 0}, "per_customer_limit"),
                       ({"code": "X6", "discount_type": "bogus", "discount_percentage": "5"}, "discount_type")]:
        resp = await api.post("/api/promo-codes/", json=bad, user=admin)
        body = assert_envelope(resp, 400)
        assert field in body["errors"], (bad, body)
    # PATCH to another type; the old percentage codes keep working unchanged.
    resp = await api.patch(f"/api/promo-codes/{fixed['id']}/", json={"discount_amount": "30"}, user=admin)
    assert resp.status == 200 and resp.json()["discount_amount"] == "30.00"
    assert await count("promo_code") == 3


@pytest.mark.gen_test
async def test_fixed_amount_code_capped_at_the_subtotal_and_min_subtotal(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    cheap = await product("Cushion", base_price="20.00")
    await create(api, admin, code="TAKE25", discount_type="fixed", discount_amount="25", min_order_amount="30")
    await add(user.id, cheap, 1)
    resp = await api.post("/api/cart/apply-discount/", json={"code": "take25"}, user=user)
    body = assert_envelope(resp, 400)
    assert "minimum order of 30.00" in body["message"]
    await add(user.id, cheap, 1)  # 40.00 now
    resp = await api.post("/api/cart/apply-discount/", json={"code": "take25"}, user=user)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["discount_amount"] == "25.00" and body["total_after_discount"] == "15.00"
    assert body["discount_lines"][0]["discount_type"] == "fixed"
    # a fixed discount never exceeds what the lines cost
    await create(api, admin, code="TAKE500", discount_type="fixed", discount_amount="500")
    body = (await api.post("/api/cart/apply-discount/", json={"code": "TAKE500"}, user=user)).json()
    assert body["discount_amount"] == "40.00" and body["total_after_discount"] == "0.00"


@pytest.mark.gen_test
async def test_scoped_code_discounts_only_its_categories_subtree_and_products(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    seating = await category("Seating")
    chairs = await category("Chairs", parent=seating)
    tables = await category("Tables")
    chair = await product("Oak Chair", base_price="100.00", category=chairs)
    table = await product("Oak Table", base_price="300.00", category=tables)
    lamp = await product("Lamp", base_price="50.00")
    await create(api, admin, code="SEAT10", discount_percentage="10", category_ids=[seating])
    await create(api, admin, code="SEATONLY", discount_percentage="10", category_ids=[seating],
                 include_subcategories=False)
    await create(api, admin, code="LAMP20", discount_type="fixed", discount_amount="20", product_ids=[lamp])
    await add(user.id, table, 1)
    # nothing in scope: refused with the reason
    body = assert_envelope(await api.post("/api/cart/apply-discount/", json={"code": "SEAT10"}, user=user), 400)
    assert body["message"] == "This promo code does not apply to the items in your cart"
    await add(user.id, chair, 2)
    await add(user.id, lamp, 1)
    body = (await api.post("/api/cart/apply-discount/", json={"code": "SEAT10"}, user=user)).json()
    assert body["discount_amount"] == "20.00"  # 10 % of the chairs (subcategory of Seating) only
    assert_envelope(await api.post("/api/cart/apply-discount/", json={"code": "SEATONLY"}, user=user), 400)
    body = (await api.post("/api/cart/apply-discount/", json={"code": "lamp20"}, user=user)).json()
    assert body["discount_amount"] == "20.00"
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount"] == "20.00" and got["total"] == "530.00"
    assert got["discount_lines"] == [{"promotion_id": got["discount_lines"][0]["promotion_id"], "code": "LAMP20",
                                      "name": "LAMP20", "discount_type": "fixed", "amount": "20.00",
                                      "shipping_discount": "0.00", "description": "20.00 off on selected items"}]


@pytest.mark.gen_test
async def test_automatic_promotion_window_and_best_discount_chosen(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Sofa", base_price="200.00")
    now = utcnow()
    past = (now - dt.timedelta(days=2)).isoformat() + "Z"
    soon = (now + dt.timedelta(days=1)).isoformat() + "Z"
    await create(api, admin, name="Ended sale", automatic=True, discount_percentage="50", valid_to=past)
    await create(api, admin, name="Future sale", automatic=True, discount_percentage="50", valid_from=soon)
    await add(user.id, pid, 1)
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount"] == "0.00" and got["discount_lines"] == []
    sale = await create(api, admin, name="Sofa sale", automatic=True, discount_percentage="10",
                        valid_from=past, valid_to=soon)
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount"] == "20.00" and got["total"] == "180.00" and got["promo_code"] is None
    assert got["discount_lines"][0]["name"] == "Sofa sale" and got["discount_lines"][0]["code"] is None
    # a smaller code does not combine with it: the automatic one stays, and the cart says why
    await create(api, admin, code="FIVE", discount_type="fixed", discount_amount="5")
    body = (await api.post("/api/cart/apply-discount/", json={"code": "five"}, user=user)).json()
    assert body["discount_amount"] == "20.00" and "Sofa sale gives a bigger discount" in body["message"]
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["promo_code"]["applied"] is False and got["promo_code"]["is_valid"] is True
    assert got["discount_lines"][0]["promotion_id"] == sale["id"]
    # a bigger code wins; an equal one wins the tie (the shopper's choice), deterministically
    await create(api, admin, code="TWENTY", discount_type="fixed", discount_amount="20")
    await api.post("/api/cart/apply-discount/", json={"code": "twenty"}, user=user)
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount_lines"][0]["code"] == "TWENTY" and got["promo_code"]["applied"] is True
    summary = (await api.get("/api/cart/summary/", user=user)).json()
    assert summary["discount"] == "20.00" and summary["discount_lines"] == got["discount_lines"]


@pytest.mark.gen_test
async def test_best_discount_is_deterministic_among_equal_automatic_ones():
    items = [PricedItem(1, None, Decimal("100.00"))]
    cands = []
    for pid in (7, 3, 5):
        cands.append(Candidate(id=pid, code=None, name=f"p{pid}", discount_type="percentage",
                               discount_percentage=Decimal("10"), discount_amount=None, valid_from=None,
                               valid_to=None, min_order_amount=Decimal(0), usage_limit=None, times_used=0,
                               is_active=True, automatic=True, per_customer_limit=None, product_ids=frozenset(),
                               scope_categories=frozenset(), customer_uses=0, scoped=False))
    assert best_discount(cands, items, Decimal("100.00")).promotion.id == 3
    assert best_discount(list(reversed(cands)), items, Decimal("100.00")).promotion.id == 3


@pytest.mark.gen_test(timeout=60)
async def test_free_shipping_zeroes_the_checkout_shipping_and_order_records_the_promotion(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Wardrobe", base_price="120.00", stock=5)
    method = await shipping_method("49.00")
    ship = await create(api, admin, code="SHIPFREE", discount_type="free_shipping", min_order_amount="100")
    # an automatic 10 % (12.00) is worth less than the 49.00 shipping once a method is chosen
    await create(api, admin, name="Small sale", automatic=True, discount_percentage="10")
    await add(user.id, pid, 1)
    body = (await api.post("/api/cart/apply-discount/", json={"code": "shipfree"}, user=user)).json()
    assert body["discount_lines"][0]["name"] == "Small sale"  # no shipping chosen yet in the cart
    resp = await initiate(api, user, shipping_method_id=method, shipping_address=ADDRESS)
    assert resp.status == 200, resp
    quote = resp.json()
    assert (quote["subtotal"], quote["discount"], quote["shipping_cost"], quote["total"]) == \
        ("120.00", "0.00", "0.00", "120.00")
    assert quote["promo_code"] == "SHIPFREE"
    assert quote["discount_lines"][0]["shipping_discount"] == "49.00"
    assert quote["discount_lines"][0]["discount_type"] == "free_shipping"
    paid = await pay(api, user)
    assert paid.status == 200, paid
    order_id = paid.json()["order_id"]
    row = await fetch_one("SELECT promo_code_id, shipping_cost, total FROM orders WHERE id = %s", [order_id])
    assert row[0] == ship["id"] and str(row[1]) == "0.00" and str(row[2]) == "120.00"
    assert await count("promo_redemption", "order_id = %s AND user_id = %s", [order_id, user.id]) == 1
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [ship["id"]]))[0] == 1


@pytest.mark.gen_test(timeout=60)
async def test_automatic_promotion_redeemed_by_the_order_and_given_back_on_cancel(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Desk", base_price="100.00", stock=5)
    sale = await create(api, admin, name="Desk days", automatic=True, discount_percentage="10",
                        per_customer_limit=1)
    await add(user.id, pid, 1)
    resp = await api.post("/api/orders/", json={"shipping_address": "1 Road", "shipping_city": "Lagos",
                                                 "shipping_country": "NG"}, user=user)
    assert resp.status == 201, resp
    order_id = resp.json()["id"] if "id" in resp.json() else resp.json()["order_id"]
    row = await fetch_one("SELECT promo_code_id, discount, promo_held FROM orders WHERE id = %s", [order_id])
    assert row[0] == sale["id"] and str(row[1]) == "10.00" and row[2] is True
    # used once: the per-customer limit of 1 is reached, the cart no longer gets it
    await add(user.id, pid, 1)
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount"] == "0.00" and got["discount_lines"] == []
    # cancelling gives the use back (times_used and the customer's redemption)
    assert (await api.post(f"/api/orders/{order_id}/cancel/", user=user)).status == 200
    assert await count("promo_redemption", "promo_code_id = %s", [sale["id"]]) == 0
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [sale["id"]]))[0] == 0
    got = (await api.get("/api/cart/", user=user)).json()
    assert got["discount"] == "10.00"


@pytest.mark.gen_test(timeout=90)
async def test_per_customer_limit_holds_under_concurrent_checkouts(api, make_user):
    """One customer, limit 1, five concurrent redemptions on separate
    connections: exactly one takes the use; another customer still can."""
    from models.core.db import transaction

    admin = await make_user(is_staff=True)
    user, other = await make_user(), await make_user()
    promo = await create(api, admin, code="ONCE", discount_percentage="10", per_customer_limit=1, usage_limit=100)

    async def attempt(uid):
        try:
            async with transaction():
                await cart.redeem_promo_code(promo["id"], user_id=uid, email=f"u{uid}@example.com")
            return True
        except cart.PromoCodeRejected:
            return False

    results = await asyncio.gather(*(attempt(user.id) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await attempt(other.id) is True
    row = await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [promo["id"]])
    assert row[0] == 2
    assert await count("promo_redemption", "promo_code_id = %s AND user_id = %s", [promo["id"], user.id]) == 1
    # the same customer by e-mail (a guest order) is the same customer
    assert await attempt(None) is True  # no identity: only the global limit applies
    ok = True
    try:
        async with transaction():
            await cart.redeem_promo_code(promo["id"], email=f"U{user.id}@Example.com")
    except cart.PromoCodeRejected:
        ok = False
    assert ok is False


@pytest.mark.gen_test(timeout=90)
async def test_per_customer_limit_under_concurrent_orders_over_the_api(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Stool", base_price="50.00", stock=50)
    promo = await create(api, admin, code="ONEPER", discount_percentage="10", per_customer_limit=1)
    await add(user.id, pid, 1)
    await api.post("/api/cart/apply-discount/", json={"code": "oneper"}, user=user)
    body = {"shipping_address": "1 Road", "shipping_city": "Lagos", "shipping_country": "NG",
            "items": [{"product_id": pid, "quantity": 1}], "promo_code": "ONEPER"}
    # through the cart path, with the code applied: concurrent orders by one customer
    resps = await asyncio.gather(*(api.post("/api/orders/", json={k: v for k, v in body.items() if k != "items"},
                                            user=user) for _ in range(4)))
    statuses = sorted(r.status for r in resps)
    assert statuses == [201, 400, 400, 400], statuses  # the others: the limit (or the cart emptied by the first)
    assert await count("promo_redemption", "promo_code_id = %s", [promo["id"]]) == 1
    assert (await fetch_one("SELECT times_used FROM promo_code WHERE id = %s", [promo["id"]]))[0] == \
        await count("promo_redemption", "promo_code_id = %s", [promo["id"]])


@pytest.mark.gen_test
async def test_candidates_read_in_one_query(make_user, count_queries):
    user = await make_user()
    pid = await product("Chair", base_price="10.00")
    await add(user.id, pid, 1)
    with count_queries() as counted:
        found = await candidates(user.id, None)
    assert found == [] and len(counted) == 1


@pytest.mark.gen_test(timeout=60)
async def test_the_order_shows_the_promotion_that_priced_it_in_details_and_the_confirmation(api, make_user):
    from models.core import mail
    from models.orders import notify

    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Armchair", base_price="200.00", stock=5)
    code = await create(api, admin, code="TAKE25", discount_type="fixed", discount_amount="25")
    await add(user.id, pid, 1)
    assert (await api.post("/api/cart/apply-discount/", json={"code": "take25"}, user=user)).status == 200
    placed = await api.post("/api/orders/", json={"shipping_address": "1 Road", "shipping_city": "Lagos",
                                                   "shipping_country": "NG"}, user=user)
    assert placed.status == 201, placed
    order_id = placed.json()["order_id"]
    expected = [{"promotion_id": code["id"], "code": "TAKE25", "name": "TAKE25", "discount_type": "fixed",
                 "amount": "25.00", "shipping_discount": "0.00", "description": "25.00 off"}]
    mine = (await api.get(f"/api/orders/{order_id}/", user=user)).json()
    assert mine["discount"] == "25.00" and mine["discount_lines"] == expected
    staff = (await api.get(f"/api/orders/{order_id}/", user=admin)).json()
    assert staff["discount_lines"] == expected
    listed = (await api.get("/api/orders/", user=user)).json()["results"][0]
    assert listed["discount_lines"] == expected
    # kept as it was: renaming or deleting the promotion later does not rewrite the order
    await api.patch(f"/api/promo-codes/{code['id']}/", json={"discount_amount": "40"}, user=admin)
    assert (await api.delete(f"/api/promo-codes/{code['id']}/", user=admin)).status == 204
    assert (await api.get(f"/api/orders/{order_id}/", user=user)).json()["discount_lines"] == expected
    _, html, text = mail.render("order_confirmation", **await notify.order_context(order_id))
    assert "Promo code TAKE25 (25.00 off): -25.00" in text
    assert "Promo code TAKE25" in html and "-25.00" in html

    # an automatic promotion through checkout: named, no code
    other = await make_user()
    sale = await create(api, admin, name="Winter sale", automatic=True, discount_percentage="10")
    await add(other.id, pid, 1)
    assert (await initiate(api, other, shipping_address=ADDRESS)).status == 200
    paid = await pay(api, other)
    assert paid.status == 200, paid
    lines = (await api.get(f"/api/orders/{paid.json()['order_id']}/", user=other)).json()["discount_lines"]
    assert lines == [{"promotion_id": sale["id"], "code": None, "name": "Winter sale",
                      "discount_type": "percentage", "amount": "20.00", "shipping_discount": "0.00",
                      "description": "10.00% off"}]
    _, _, text = mail.render("order_confirmation", **await notify.order_context(paid.json()["order_id"]))
    assert "Winter sale (10.00% off): -20.00" in text
    # an order without a promotion shows none
    third = await make_user()
    plain = await api.post("/api/orders/", json={"items": [{"product_id": pid, "quantity": 1}]}, user=third)
    assert (await api.get(f"/api/orders/{plain.json()['order_id']}/", user=third)).json()["discount_lines"] == []
