"""Returns end to end: one chair of four of a delivered order → requested →
approved → received → refunded at the provider (the real Stripe SDK against
its local fake) through the one refund action, less a restocking fee, stock +1
once, the dashboard's revenue down by that amount on the refund's day;
concurrent refunds of the same return → one; the window; the admin list."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

import pytest

import settings
from models.core.db import fetch_one, utcnow
from models.dashboard import metrics
from tests.api.test_admin_shipments import paid_order, ship
from tests.support.client import assert_envelope
from tests.support.factories import count, stock_of
from tests.support.mail import read_mails, wait_for_mail


async def delivered_order(api, admin, user, lines=((4, "120.00"),), txn="pi_chairs"):
    """A PAID Stripe order, shipped and delivered: (order id, item ids, product ids)."""
    order_id, items, pids = await paid_order(user, lines, provider="stripe", txn=txn)
    shipment = (await ship(api, admin, order_id, carrier="dhl", tracking_number="JD0001")).json()
    resp = await api.post(f"/api/shipments/{shipment['id']}/status/", json={"status": "delivered"}, user=admin)
    assert resp.status == 200, resp
    return order_id, items, pids


async def revenue_today() -> str:
    t = metrics.today()
    return f"{(await metrics.order_figures(t, t))['revenue']:.2f}"


@pytest.mark.gen_test(timeout=60)
async def test_return_one_chair_of_four_refunds_at_the_provider_restocks_once_and_lowers_revenue(
        api, make_user, fake_stripe, mailbox):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (chairs,), (chair,) = await delivered_order(api, admin, user)
    assert await stock_of(chair) == 6
    before = await revenue_today()
    assert before == "480.00"

    resp = await api.post(f"/api/orders/{order_id}/returns/", user=user,
                          json={"lines": [{"item_id": chairs, "quantity": 1}], "reason": "Wobbly leg"})
    assert resp.status == 201, resp
    ret = resp.json()
    assert ret["status"] == "requested" and ret["lines"] == [
        {"item_id": chairs, "product_name": "Thing 0", "quantity": 1, "unit_price": "120.00"}]
    # Refunding before it is received is refused; so is a stranger's look.
    assert_envelope(await api.post(f"/api/returns/{ret['id']}/refund/", json={}, user=admin), 400)
    assert_envelope(await api.get(f"/api/returns/{ret['id']}/", user=await make_user()), 404)

    for step, status in (("approve", "approved"), ("receive", "received")):
        resp = await api.post(f"/api/returns/{ret['id']}/{step}/", json={"note": "Thanks"}, user=admin)
        assert resp.status == 200 and resp.json()["status"] == status, resp
    resp = await api.post(f"/api/returns/{ret['id']}/refund/", user=admin,
                          json={"restocking_fee": "20.00", "reason": "Return of a wobbly chair"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["status"] == "refunded" and body["refund_amount"] == "100.00" and body["restocking_fee"] == "20.00"
    assert body["refund"]["amount"] == "100.00" and body["refund"]["payment_status"] == "PARTIALLY_REFUNDED"
    assert body["refund"]["restocked"] is True and body["refund"]["status"] == "DELIVERED"
    # The provider refunded exactly that (in cents), once.
    assert [(r["payment_intent"], r["amount"]) for r in fake_stripe.refunds] == [("pi_chairs", 10000)]
    # Stock +1, recorded as a movement; a second refund is refused and restocks nothing.
    assert await stock_of(chair) == 7
    assert await count("stock_movement", "product_id = %s AND reason = 'refund' AND change = 1", [chair]) == 1
    assert_envelope(await api.post(f"/api/returns/{ret['id']}/refund/", json={}, user=admin), 409)
    assert await stock_of(chair) == 7 and len(fake_stripe.refunds) == 1
    # Revenue down by the refunded amount, today.
    assert await revenue_today() == "380.00"
    row = await fetch_one("SELECT refunded_amount::text, payment_status FROM orders WHERE id = %s", [order_id])
    assert row == ("100.00", "PARTIALLY_REFUNDED")

    # An email at each step: requested, approved, received, refunded (after the two shipment emails).
    mails = await wait_for_mail(6)
    subjects = [m["Subject"] for m in mails if m["Subject"].startswith("Return")]
    assert sorted(subjects) == sorted(f"Return {ret['id']} of your order {body['order_number']}: {s}"
                                      for s in ("requested", "approved", "received", "refunded"))
    await asyncio.sleep(0.5)
    assert len(read_mails()) == 6


@pytest.mark.gen_test
async def test_concurrent_refunds_of_the_same_return_refund_once(api, make_user, fake_stripe):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (chairs,), (chair,) = await delivered_order(api, admin, user)
    ret = (await api.post(f"/api/orders/{order_id}/returns/", user=user,
                          json={"lines": [{"item_id": chairs, "quantity": 2}], "reason": "Too many"})).json()
    for step in ("approve", "receive"):
        assert (await api.post(f"/api/returns/{ret['id']}/{step}/", json={}, user=admin)).status == 200
    results = await asyncio.gather(*(api.post(f"/api/returns/{ret['id']}/refund/", json={}, user=admin)
                                     for _ in range(4)))
    assert sorted(r.status for r in results) == [200, 409, 409, 409], results
    assert len(fake_stripe.refunds) == 1 and fake_stripe.refunds[0]["amount"] == 24000
    assert await count("refund", "status <> 'failed'") == 1
    assert await stock_of(chair) == 8  # 10 - 4 + 2, once


@pytest.mark.gen_test
async def test_returns_need_a_delivery_within_the_window_and_units_not_returned_yet(api, make_user, fake_stripe):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, items, _ = await paid_order(user, ((2, "10.00"),), provider="stripe", txn="pi_w")
    url = f"/api/orders/{order_id}/returns/"
    line = {"item_id": items[0], "quantity": 1}
    body = assert_envelope(await api.post(url, user=user, json={"lines": [line], "reason": "x"}), 400)
    assert "delivered" in body["message"]
    shipment = (await ship(api, admin, order_id, carrier="ups")).json()
    await api.post(f"/api/shipments/{shipment['id']}/status/", json={"status": "delivered"}, user=admin)
    # Another customer's order is not found; more than delivered is refused.
    assert_envelope(await api.post(url, user=await make_user(), json={"lines": [line], "reason": "x"}), 404)
    body = assert_envelope(await api.post(url, user=user, json={"lines": [{**line, "quantity": 3}],
                                                                "reason": "x"}), 400)
    assert "lines.0.quantity" in body["errors"]
    assert (await api.post(url, user=user, json={"lines": [{**line, "quantity": 2}], "reason": "x"})).status == 201
    assert_envelope(await api.post(url, user=user, json={"lines": [line], "reason": "again"}), 400)
    # A rejected return frees its units; past the window nothing is returnable.
    ret_id = (await fetch_one("SELECT id FROM order_return"))[0]
    assert (await api.post(f"/api/returns/{ret_id}/reject/", json={"note": "No"}, user=admin)).status == 200
    assert_envelope(await api.post(f"/api/returns/{ret_id}/approve/", json={}, user=admin), 400)
    late = utcnow() - dt.timedelta(days=settings.RETURN_WINDOW_DAYS + 1)
    await fetch_one("UPDATE shipment SET delivered_at = %s WHERE id = %s RETURNING id", [late, shipment["id"]])
    body = assert_envelope(await api.post(url, user=user, json={"lines": [line], "reason": "x"}), 400)
    assert f"{settings.RETURN_WINDOW_DAYS} days" in body["message"]
    assert await count("order_return") == 1


@pytest.mark.gen_test
async def test_partial_refund_of_a_return_with_per_line_restock(api, make_user, fake_stripe):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (a, b), (pa, pb) = await delivered_order(api, admin, user, lines=((2, "50.00"), (1, "30.00")),
                                                       txn="pi_two")
    ret = (await api.post(f"/api/orders/{order_id}/returns/", user=user, json={
        "lines": [{"item_id": a, "quantity": 2}, {"item_id": b, "quantity": 1}], "reason": "Changed my mind"})).json()
    for step in ("approve", "receive"):
        assert (await api.post(f"/api/returns/{ret['id']}/{step}/", json={}, user=admin)).status == 200
    body = assert_envelope(await api.post(f"/api/returns/{ret['id']}/refund/", user=admin, json={
        "lines": [{"item_id": a, "quantity": 1}], "restocking_fee": "50.00"}), 400)
    assert "restocking_fee" in body["errors"]
    resp = await api.post(f"/api/returns/{ret['id']}/refund/", user=admin, json={
        "lines": [{"item_id": a, "quantity": 1, "restock": True}, {"item_id": b, "quantity": 1, "restock": False}]})
    assert resp.status == 200, resp
    assert resp.json()["refund_amount"] == "80.00" and fake_stripe.refunds[0]["amount"] == 8000
    assert await stock_of(pa) == 9 and await stock_of(pb) == 9  # a: 10 - 2 + 1; b (damaged): not restocked


@pytest.mark.gen_test
async def test_admin_return_list_one_query_customer_sees_own_and_csv(api, make_user, fake_stripe, count_queries):
    admin, user, other = await make_user(is_staff=True), await make_user(), await make_user()
    for n, who in enumerate((user, user, other)):
        order_id, (item,), _ = await delivered_order(api, admin, who, txn=f"pi_{n}")
        resp = await api.post(f"/api/orders/{order_id}/returns/", user=who,
                              json={"lines": [{"item_id": item, "quantity": 1}], "reason": f"reason {n}"})
        assert resp.status == 201, resp
    mine = (await api.get("/api/returns/", user=user)).json()
    assert mine["count"] == 2 and {r["reason"] for r in mine["results"]} == {"reason 0", "reason 1"}
    page = (await api.get("/api/returns/?status=requested&page_size=2", user=admin)).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["results"][0]["reason"] == "reason 2"
    assert (await api.get("/api/returns/?status=refunded", user=admin)).json()["count"] == 0
    assert_envelope(await api.get("/api/returns/?status=lost", user=admin), 400)
    assert_envelope(await api.get("/api/returns/export/", user=user), 403)

    from models.fulfilment import queries

    with count_queries() as q:
        n, rows = await queries.return_page(queries.ListFilters(status="requested"), 1, 10)
    assert n == 3 and len(rows) == 3 and len(q) == 1

    resp = await api.get("/api/returns/export/", user=admin)
    assert resp.status == 200, resp
    rows = list(csv.reader(io.StringIO(resp.body.decode())))
    assert rows[0][0] == "Return ID" and len(rows) == 4 and rows[1][5] == "reason 2"


@pytest.mark.gen_test
async def test_revenue_goes_down_on_the_refunds_day_not_the_orders(api, make_user, fake_stripe):
    """An order of ten days ago refunded today: today's revenue goes down, that day's stays."""
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _items, _ = await paid_order(user, ((1, "200.00"),), provider="stripe", txn="pi_old")
    then = utcnow() - dt.timedelta(days=10)
    await fetch_one("UPDATE orders SET created_at = %s WHERE id = %s RETURNING id", [then, order_id])
    day = then.date()
    assert (await metrics.order_figures(day, day))["revenue"] == 200
    assert await revenue_today() == "0.00"
    resp = await api.post(f"/api/orders/{order_id}/refund/", json={"amount": "75.00"}, user=admin)
    assert resp.status == 200, resp
    assert (await metrics.order_figures(day, day))["revenue"] == 200
    assert await revenue_today() == "-75.00"
    week = metrics.window("month")
    assert (await metrics.order_figures(*week))["revenue"] == 125
    trend = {p["date"]: p["revenue"] for p in await metrics.sales_trend("month")}
    assert trend[day.isoformat()] == "200.00" and trend[metrics.today().isoformat()] == "-75.00"
    # Tomorrow, today is a past day read from the rollup: the same figures.
    await metrics.rebuild_rollups()
    assert await fetch_one("SELECT n, amount::text FROM refund_daily WHERE day = %s", [metrics.today()]) == (1, "75.00")


@pytest.mark.gen_test
async def test_units_refunded_outside_a_return_cannot_be_returned_and_refunded_orders_not_at_all(
        api, make_user, fake_stripe):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (chairs,), _ = await delivered_order(api, admin, user)
    # Staff refunded one damaged chair of four directly.
    resp = await api.post(f"/api/orders/{order_id}/refund/", json={"lines": [{"item_id": chairs, "quantity": 1}]},
                          user=admin)
    assert resp.status == 200, resp
    url = f"/api/orders/{order_id}/returns/"
    body = assert_envelope(await api.post(url, user=user, json={"lines": [{"item_id": chairs, "quantity": 4}],
                                                                "reason": "all"}), 400)
    assert body["errors"]["lines.0.quantity"] == ["At most 3 unit(s) of this item can be returned."]
    # The rest refunded: nothing is left to give back.
    assert (await api.post(f"/api/orders/{order_id}/refund/", json={}, user=admin)).status == 200
    body = assert_envelope(await api.post(url, user=user, json={"lines": [{"item_id": chairs, "quantity": 1}],
                                                                "reason": "x"}), 400)
    assert "REFUNDED" in body["message"] and await count("order_return") == 0
