"""Stock policy per variation (issue 22 item 2): a variation may override its
product's terms (policy, backorder limit, restock date, lead time), field by
field (NULL inherits). The effective terms decide the cart, the stock taken
by orders (its limit counts the variation's own units owed), each order
line's expected ship date, the product page and the admin payload."""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import pytest

from models import cart
from models.catalog.stock_policy import STOCK_POLICIES, StockTerms, effective_terms, sellable_stock
from models.core import mail
from models.core.db import fetch_all, fetch_one, utcnow
from models.orders.notify import order_context
from tests.support.client import assert_envelope
from tests.support.factories import count, product, variation

TODAY = utcnow().date  # called: the tests' "today" as the server sees it


def day(n: int) -> str:
    return (TODAY() + dt.timedelta(days=n)).isoformat()


async def counters(variation_id: int) -> tuple[int, int]:
    return await fetch_one("SELECT stock_quantity, backordered FROM product_variation WHERE id = %s", [variation_id])


async def buy(api, user, product_id: int, variation_id: int, quantity: int = 1):
    return await api.post("/api/orders/", json={"items": [{"product_id": product_id, "variation_id": variation_id,
                                                           "quantity": quantity}]}, user=user)


# --- the rule and its SQL twins -------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_stock_terms_and_line_sellable_stock_sql_twins_agree_with_python():
    restock = dt.date(2027, 5, 1)
    overrides = [None, *STOCK_POLICIES]
    cases = []  # (product id, variation id or None, product terms, variation's own values, stock, owed)
    for n, (p_policy, v_policy, v_limit, v_restock, v_lead) in enumerate(itertools.product(
            STOCK_POLICIES, overrides, (None, 0, 4), (None, dt.date(2027, 6, 2)), (None, 9))):
        p_terms = StockTerms(p_policy, 2, restock if n % 2 else None, 5)
        pid = await product(f"P{n}", stock=n % 3, stock_policy=p_terms.policy, backorder_limit=p_terms.backorder_limit,
                            restock_date=p_terms.restock_date, lead_time_days=p_terms.lead_time_days)
        own = (v_policy, v_limit, v_restock, v_lead)
        vid = await variation(pid, f"V{n}", stock=0 if n % 4 else 1, stock_policy=v_policy, backorder_limit=v_limit,
                              restock_date=v_restock, lead_time_days=v_lead)
        if n % 5 == 0:  # some owe units already (stock 0 then: one of the two is always 0)
            await fetch_all("UPDATE product_variation SET stock_quantity = 0, backordered = 1 WHERE id = %s "
                            "RETURNING id", [vid])
        cases.append((pid, vid, p_terms, own))
        cases.append((pid, None, p_terms, (None, None, None, None)))
    rows = {(r[0], r[1]): r[2:] for r in await fetch_all(
        "SELECT p.id, v.id, (stock_terms(p, v)).policy, (stock_terms(p, v)).backorder_limit, "
        "(stock_terms(p, v)).restock_date, (stock_terms(p, v)).lead_time_days, line_sellable_stock(p, v), "
        "COALESCE(v.stock_quantity, p.stock_quantity), COALESCE(v.backordered, p.backordered) "
        "FROM product p LEFT JOIN product_variation v ON v.product_id = p.id AND v.id = ANY(%s) "
        "UNION ALL SELECT p.id, NULL, (stock_terms(p, NULL)).*, line_sellable_stock(p, NULL), p.stock_quantity, "
        "p.backordered FROM product p", [[c[1] for c in cases if c[1]]])}
    assert len(cases) == 2 * 3 * 4 * 3 * 2 * 2
    for pid, vid, p_terms, own in cases:
        policy, limit, restock_date, lead, sellable, stock, owed = rows[(pid, vid)]
        expected = effective_terms(p_terms, *own)
        assert StockTerms(policy, limit, restock_date, lead) == expected, (pid, vid, own)
        assert sellable == sellable_stock(expected.policy, stock, owed, expected.backorder_limit), (pid, vid, own)


def test_effective_terms_take_each_field_of_the_variation_when_set():
    base = StockTerms("backorder", 10, dt.date(2027, 1, 15), 0)
    assert effective_terms(base) == base
    assert effective_terms(base, "made_to_order", lead_time_days=14) == \
        StockTerms("made_to_order", 10, dt.date(2027, 1, 15), 14)
    assert effective_terms(base, backorder_limit=0) == StockTerms("backorder", 0, dt.date(2027, 1, 15), 0)
    assert effective_terms(base, "deny").policy == "deny"


# --- concurrency -----------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=120)
async def test_concurrent_buyers_never_owe_more_than_a_variations_backorder_limit(api, make_user):
    # The product sells only its stock; one variation backorders up to 3 units (its own limit),
    # another inherits the product's (deny).
    desk = await product("Desk", stock=0, base_price="400.00")
    walnut = await variation(desk, "Walnut", stock=1, stock_policy="backorder", backorder_limit=3,
                             restock_date=TODAY() + dt.timedelta(days=12))
    oak = await variation(desk, "Oak", stock=1)
    buyers = [await make_user() for _ in range(10)]
    answers = await asyncio.gather(*(buy(api, u, desk, walnut) for u in buyers))
    assert sorted(a.status for a in answers) == [201] * 4 + [400] * 6
    assert await counters(walnut) == (0, 3)
    ships = sorted(r[0] for r in await fetch_all("SELECT expected_ship_date FROM order_item WHERE variation_id = %s",
                                                 [walnut]))
    assert ships == [TODAY()] + [TODAY() + dt.timedelta(days=12)] * 3
    others = [await make_user() for _ in range(4)]
    answers = await asyncio.gather(*(buy(api, u, desk, oak) for u in others))
    assert sorted(a.status for a in answers) == [201] + [400] * 3
    assert await counters(oak) == (0, 0)


@pytest.mark.gen_test(timeout=120)
async def test_a_deny_variation_of_a_backorder_product_is_never_oversold(api, make_user):
    lamp = await product("Lamp", stock=0, base_price="80.00", stock_policy="backorder", backorder_limit=100,
                         restock_date=TODAY() + dt.timedelta(days=7))
    brass = await variation(lamp, "Brass", stock=2, stock_policy="deny")
    chrome = await variation(lamp, "Chrome", stock=0)  # inherits: backorders up to 100 of its own
    buyers = [await make_user() for _ in range(8)]
    answers = await asyncio.gather(*(buy(api, u, lamp, brass) for u in buyers))
    assert sorted(a.status for a in answers) == [201] * 2 + [400] * 6
    assert await counters(brass) == (0, 0)
    refused = next(a for a in answers if a.status == 400)
    assert refused.json()["message"].startswith("Insufficient stock for"), refused
    assert (await buy(api, buyers[0], lamp, chrome, 5)).status == 201
    assert await counters(chrome) == (0, 5)


# --- the cart: override and inherit ----------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_cart_lines_follow_the_variations_own_terms_or_inherit_the_products(api, make_user):
    shopper = await make_user()
    sofa = await product("Sofa", stock=0, base_price="900.00", stock_policy="made_to_order", lead_time_days=30)
    linen = await variation(sofa, "Linen", stock=0)  # inherits made to order, 30 days
    velvet = await variation(sofa, "Velvet", stock=0, lead_time_days=45)  # inherits the policy, own lead time
    leather = await variation(sofa, "Leather", stock=1, stock_policy="deny")
    boucle = await variation(sofa, "Boucle", stock=1, stock_policy="backorder", backorder_limit=2,
                             restock_date=TODAY() + dt.timedelta(days=20))

    def add(vid, quantity):
        return api.post("/api/cart/add-item/", json={"product_id": sofa, "variation_id": vid, "quantity": quantity},
                        user=shopper)

    assert (await add(linen, 50)).status == 201
    assert (await add(velvet, 2)).status == 201
    assert_envelope(await add(leather, 2), 400, "Only 1 left")
    assert (await add(leather, 1)).status == 201
    assert_envelope(await add(boucle, 4), 400, "Only 3 left")
    added = await add(boucle, 3)
    assert added.status == 201 and added.json()["cart_item"]["expected_ship_date"] == day(20)
    lines = {i["variation"]: i for i in (await api.get("/api/cart/", user=shopper)).json()["items"]}
    assert {v: (i["stock_policy"], i["expected_ship_date"], i["stock_status"]) for v, i in lines.items()} == {
        linen: ("made_to_order", day(30), "active"),
        velvet: ("made_to_order", day(45), "active"),
        leather: ("deny", day(0), "active"),
        boucle: ("backorder", day(20), "active"),
    }
    # Growing a deny line past its shelf is refused; the product's policy does not apply to it.
    assert_envelope(await add(leather, 1), 400)
    # Staff take the override away: the line inherits made to order again.
    await fetch_all("UPDATE product_variation SET stock_policy = NULL WHERE id = %s RETURNING id", [leather])
    assert (await add(leather, 5)).status == 201
    line = next(i for i in (await api.get("/api/cart/", user=shopper)).json()["items"] if i["variation"] == leather)
    assert (line["stock_policy"], line["quantity"], line["expected_ship_date"]) == ("made_to_order", 6, day(30))
    quote = await cart.price_cart(shopper.id)
    assert {q.variation_id: q.expected_ship_date.isoformat() for q in quote.lines} == {
        linen: day(30), velvet: day(45), leather: day(30), boucle: day(20)}


@pytest.mark.gen_test(timeout=60)
async def test_order_lines_and_the_email_carry_each_variations_ship_date(api, make_user):
    shopper = await make_user(full_name="Ada Buyer")
    bed = await product("Bed", stock=0, base_price="700.00")  # deny
    queen = await variation(bed, "Queen", stock=2)
    king = await variation(bed, "King", stock=0, stock_policy="made_to_order", lead_time_days=21)
    twin = await variation(bed, "Twin", stock=1, stock_policy="backorder", backorder_limit=5,
                           restock_date=TODAY() + dt.timedelta(days=9))
    resp = await api.post("/api/orders/", user=shopper, json={"items": [
        {"product_id": bed, "variation_id": queen, "quantity": 2},
        {"product_id": bed, "variation_id": king, "quantity": 3},
        {"product_id": bed, "variation_id": twin, "quantity": 4}]})
    assert resp.status == 201, resp
    order_id = resp.json()["order_id"]
    detail = (await api.get(f"/api/orders/{order_id}/", user=shopper)).json()
    ships = {i["variation_id"]: i["expected_ship_date"]
             for i in detail["items"]}
    assert ships == {queen: day(0), king: day(21), twin: day(9)}
    assert [await counters(v) for v in (queen, king, twin)] == [(0, 0), (0, 3), (0, 3)]
    _, html, text = mail.render("order_confirmation", **await order_context(order_id))
    assert f"ships {day(21)}" in text and f"ships {day(9)}" in text and f"Ships {day(21)}" in html
    # Cancelling gives back what each variation owed first.
    admin = await make_user(is_staff=True)
    await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "CANCELLED"}, user=admin)
    assert [await counters(v) for v in (queen, king, twin)] == [(2, 0), (0, 0), (1, 0)]


# --- the product page ---------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_product_page_shows_each_variations_policy_and_ship_date_for_one_unit(api, make_user):
    chair = await product("Chair", stock=0, base_price="150.00", stock_policy="backorder", backorder_limit=2,
                          restock_date=TODAY() + dt.timedelta(days=10))
    shelf = await variation(chair, "Shelf", stock=3)
    owed = await variation(chair, "Owed", stock=0)
    full = await variation(chair, "Full", stock=0)
    await fetch_all("UPDATE product_variation SET backordered = 2 WHERE id = %s RETURNING id", [full])
    undated = await variation(chair, "Undated", stock=0, restock_date=None, stock_policy="backorder")
    made = await variation(chair, "Made", stock=0, stock_policy="made_to_order", lead_time_days=14)
    denied = await variation(chair, "Denied", stock=0, stock_policy="deny")
    past = await variation(chair, "Past", stock=0, restock_date=TODAY() - dt.timedelta(days=3))
    body = (await api.get(f"/api/products/{chair}/")).json()
    assert (body["stock_policy"], body["expected_ship_date"]) == ("backorder", day(10))
    got = {v["id"]: (v["stock_policy"], v["expected_ship_date"]) for v in body["variations"]}
    assert got == {
        shelf: ("backorder", day(0)),  # on the shelf: today
        owed: ("backorder", day(10)),  # the product's restock date
        full: ("backorder", None),  # its own limit reached: cannot be sold now
        undated: ("backorder", day(10)),  # NULL inherits the product's restock date
        made: ("made_to_order", day(14)),
        denied: ("deny", None),
        past: ("backorder", day(0)),  # a restock date gone by: never before today
    }
    by_slug = (await api.get(f"/api/products/by-slug/{body['slug']}/")).json()
    assert by_slug["variations"] == body["variations"]
    plain = await product("Stool", stock=0)
    assert (await api.get(f"/api/products/{plain}/")).json()["expected_ship_date"] is None
    listed = {i["id"]: i["stock_policy"] for i in (await api.get("/api/products/")).json()["results"]}
    assert listed == {chair: "backorder", plain: "deny"}


# --- staff --------------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_staff_set_a_variations_terms_and_bad_values_are_400_naming_the_field(api, make_user):
    admin = await make_user(is_staff=True)
    body = {"name": "Wardrobe", "sku": "WR-1", "base_price": "1200.00", "stock_policy": "backorder",
            "backorder_limit": 10, "restock_date": "2027-02-01", "status": "published",
            "variations": [{"variation_type": "Finish", "variation": "Oak", "sku": "WR-1-OAK", "stock_quantity": 2},
                           {"variation_type": "Finish", "variation": "Walnut", "sku": "WR-1-WAL",
                            "stock_policy": "Made_To_Order", "lead_time_days": "28"}]}
    resp = await api.post("/api/products/", json=body, user=admin)
    assert resp.status == 201, resp
    oak, walnut = resp.json()["variations"]
    assert (oak["stock_policy"], oak["backorder_limit"], oak["restock_date"], oak["lead_time_days"],
            oak["effective_stock_policy"], oak["backordered"]) == (None, None, None, None, "backorder", 0)
    assert (walnut["stock_policy"], walnut["lead_time_days"], walnut["effective_stock_policy"]) == \
        ("made_to_order", 28, "made_to_order")
    pid = resp.json()["id"]
    patched = await api.patch(f"/api/products/{pid}/", user=admin, json={"variations": [
        {"id": oak["id"], "variation": "Oak", "sku": "WR-1-OAK", "stock_quantity": 2, "stock_policy": "deny"},
        {"id": walnut["id"], "variation": "Walnut", "sku": "WR-1-WAL", "stock_policy": "backorder",
         "backorder_limit": 0, "restock_date": "2027-03-01"}]})
    assert patched.status == 200, patched
    oak, walnut = patched.json()["variations"]
    assert (oak["stock_policy"], oak["effective_stock_policy"]) == ("deny", "deny")
    assert (walnut["stock_policy"], walnut["backorder_limit"], walnut["restock_date"], walnut["lead_time_days"]) == \
        ("backorder", 0, "2027-03-01", None)
    page = {v["id"]: v["stock_policy"] for v in (await api.get(f"/api/products/{pid}/")).json()["variations"]}
    assert page == {oak["id"]: "deny", walnut["id"]: "backorder"}

    before = await fetch_all("SELECT id, stock_policy, backorder_limit, restock_date, lead_time_days "
                             "FROM product_variation ORDER BY id")
    products = await count("product")
    for bad, field in [({"stock_policy": "sometimes"}, "stock_policy"), ({"lead_time_days": 366}, "lead_time_days"),
                       ({"lead_time_days": -1}, "lead_time_days"), ({"backorder_limit": -1}, "backorder_limit"),
                       ({"backorder_limit": "many"}, "backorder_limit"), ({"restock_date": "soon"}, "restock_date"),
                       ({"restock_date": "2027-02-30"}, "restock_date"), ({"stock_policy": 3}, "stock_policy")]:
        item = {"variation": "Ash", "sku": "WR-1-ASH", **bad}
        for resp in (await api.patch(f"/api/products/{pid}/", json={"variations": [item]}, user=admin),
                     await api.post("/api/products/", json={**body, "sku": "WR-2", "variations": [item]},
                                    user=admin)):
            errors = assert_envelope(resp, 400, "Validation error")["errors"]
            assert f"variations.0.{field}" in errors, (bad, errors)
    assert await fetch_all("SELECT id, stock_policy, backorder_limit, restock_date, lead_time_days "
                           "FROM product_variation ORDER BY id") == before
    assert await count("product") == products


# --- carts moved or restored follow the terms too ----------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_login_merges_guest_lines_within_what_the_variation_can_sell(api, make_user):
    from tests.api.test_guest_checkout import start

    user = await make_user(email="merge@example.com")
    table = await product("Table", stock=0, base_price="500.00")  # deny
    custom = await variation(table, "Custom", stock=0, stock_policy="made_to_order", lead_time_days=20)
    last = await variation(table, "Last", stock=0, stock_policy="backorder", backorder_limit=2)
    guest = await start(api)
    for vid, quantity in ((custom, 7), (last, 2)):
        added = await api.post("/api/cart/add-item/", json={"product_id": table, "variation_id": vid,
                                                             "quantity": quantity}, headers=guest)
        assert added.status == 201, added
    await cart.add_item(user.id, table, 1, last)
    resp = await api.post("/api/auth/login/", json={"email": "merge@example.com", "password": "password123"},
                          headers=guest)
    assert resp.status == 200, resp
    lines = {i["variation"]: (i["quantity"], i["expected_ship_date"])
             for i in (await api.get("/api/cart/", user=user)).json()["items"]}
    assert lines == {custom: (7, day(20)), last: (2, None)}  # 1 + 2 capped at the limit of 2; no restock date
