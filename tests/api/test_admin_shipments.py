"""Shipments: a split delivery of a two-line order (partially shipped → shipped
→ delivered through the one transition table), what the customer sees (order
view, tracking list), an email per shipment through the outbox, two staff
shipping the same remaining units at once, the admin list and its CSV."""
from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal

import pytest

from models.core.db import fetch_all, fetch_one
from models.orders import actions as orders
from models.orders.actions import LineIn, OrderDraft, PaymentDraft, Totals
from tests.support.client import assert_envelope
from tests.support.factories import count, product
from tests.support.mail import mail_body, read_mails, wait_for_mail


async def paid_order(user, lines=((2, "50.00"), (1, "300.00")), *, provider: str = "test",
                     txn: str = "txn_1", status: str = "PROCESSING") -> tuple[int, list[int], list[int]]:
    """A PAID order (lines: quantity, unit price): its id, item ids and product ids."""
    pids = [await product(f"Thing {i}", stock=10, base_price=price) for i, (_q, price) in enumerate(lines)]
    priced = await orders.price_lines([LineIn(pid, q) for pid, (q, _p) in zip(pids, lines)], admin=False)
    draft = OrderDraft(user_id=user.id, customer_id=None, customer_name="Ada", customer_email=user.email,
                       lines=priced, totals=Totals(sum((l.total for l in priced), Decimal(0))),
                       payment_method=provider, status=status, payment_status="PAID")
    order_id, _ = await orders.create_order(draft, PaymentDraft(provider, provider, "PAID", txn), notify=False)
    items = [r[0] for r in await fetch_all("SELECT id FROM order_item WHERE order_id = %s ORDER BY id", [order_id])]
    return order_id, items, pids


async def ship(api, admin, order_id, **body):
    return await api.post(f"/api/orders/{order_id}/shipments/", json=body, user=admin)


async def order_status(order_id: int) -> str:
    return (await fetch_one("SELECT status FROM orders WHERE id = %s", [order_id]))[0]


@pytest.mark.gen_test(timeout=60)
async def test_split_shipment_partially_shipped_then_shipped_then_delivered(api, make_user, mailbox):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (sofa, lamp), _ = await paid_order(user)

    resp = await ship(api, admin, order_id, lines=[{"item_id": sofa, "quantity": 2}], carrier="UPS",
                      tracking_number="1Z999AA10123456784")
    assert resp.status == 201, resp
    first = resp.json()
    assert first["status"] == "shipped" and first["carrier"] == "ups" and first["order_status"] == "PARTIALLY_SHIPPED"
    assert first["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert first["lines"] == [{"item_id": sofa, "product_name": "Thing 0", "quantity": 2}]
    assert await order_status(order_id) == "PARTIALLY_SHIPPED"

    # The rest (default: every unit not shipped yet), with a tracking page staff give.
    resp = await ship(api, admin, order_id, carrier="other", tracking_number="AB-1",
                      tracking_url="https://track.example.com/AB-1")
    assert resp.status == 201, resp
    second = resp.json()
    assert second["lines"] == [{"item_id": lamp, "product_name": "Thing 1", "quantity": 1}]
    assert second["tracking_url"] == "https://track.example.com/AB-1"
    assert await order_status(order_id) == "SHIPPED"
    # Nothing left to ship.
    assert_envelope(await ship(api, admin, order_id, carrier="dhl"), 409)

    # Delivered one by one: the order is DELIVERED once every unit arrived.
    resp = await api.post(f"/api/shipments/{first['id']}/status/", json={"status": "delivered"}, user=admin)
    assert resp.status == 200 and resp.json()["delivered_at"], resp
    assert await order_status(order_id) == "SHIPPED"
    resp = await api.post(f"/api/shipments/{second['id']}/status/", json={"status": "DELIVERED",
                                                                         "location": "Front door"}, user=admin)
    assert resp.status == 200, resp
    assert await order_status(order_id) == "DELIVERED"
    # Never back.
    assert_envelope(await api.post(f"/api/shipments/{second['id']}/status/", json={"status": "shipped"},
                                   user=admin), 400)

    # The customer's order view and tracking list show the shipments.
    view = (await api.get(f"/api/orders/{order_id}/", user=user)).json()
    assert view["status"] == "DELIVERED" and view["status_display"] == "Delivered"
    assert [(s["id"], s["status"], s["tracking_number"]) for s in view["shipments"]] == [
        (first["id"], "delivered", "1Z999AA10123456784"), (second["id"], "delivered", "AB-1")]
    events = (await api.get(f"/api/orders/{order_id}/tracking/", user=user)).json()
    per_shipment = [(e["status"], e["shipment_id"]) for e in events if e["shipment_id"]]
    assert ("PARTIALLY_SHIPPED", first["id"]) in per_shipment and ("DELIVERED", second["id"]) in per_shipment
    assert [e for e in events if e["shipment_id"] == first["id"]][0]["tracking_number"] == "1Z999AA10123456784"
    listed = (await api.get(f"/api/orders/{order_id}/shipments/", user=user)).json()
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    other = await make_user()
    assert_envelope(await api.get(f"/api/orders/{order_id}/shipments/", user=other), 404)
    assert_envelope(await api.get(f"/api/shipments/{first['id']}/", user=other), 404)

    # One email per shipment when it ships and when it arrives; none for the status changes they caused.
    mails = await wait_for_mail(4)
    await asyncio.sleep(1)
    assert len(read_mails()) == 4
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == sorted([
        f"Your order {view['order_number']}: shipment {first['id']} is on its way",
        f"Your order {view['order_number']}: shipment {second['id']} is on its way",
        f"Your order {view['order_number']}: shipment {first['id']} is delivered",
        f"Your order {view['order_number']}: shipment {second['id']} is delivered"])
    body = next(mail_body(m) for m in mails if "1Z999AA10123456784" in mail_body(m))
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in body and "Thing 0 x 2" in body


@pytest.mark.gen_test
async def test_two_staff_shipping_the_same_remaining_units_one_succeeds(api, make_user):
    admin, other_admin, user = await make_user(is_staff=True), await make_user(is_staff=True), await make_user()
    order_id, (sofa, _lamp), _ = await paid_order(user)
    results = await asyncio.gather(*(ship(api, a, order_id, lines=[{"item_id": sofa, "quantity": 2}], carrier="fedex")
                                     for a in (admin, other_admin, admin)))
    assert sorted(r.status for r in results) == [201, 409, 409], results
    assert await count("shipment") == 1
    assert (await fetch_one("SELECT sum(quantity) FROM shipment_line"))[0] == 2
    assert await order_status(order_id) == "PARTIALLY_SHIPPED"


@pytest.mark.gen_test
async def test_shipments_are_refused_for_unpaid_orders_and_bad_lines(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (sofa, _lamp), _ = await paid_order(user)
    body = assert_envelope(await ship(api, admin, order_id, lines=[{"item_id": sofa, "quantity": 3}], carrier="ups"), 400)
    assert "lines.0.quantity" in body["errors"]
    body = assert_envelope(await ship(api, admin, order_id, lines=[{"item_id": 999999, "quantity": 1}],
                                      carrier="ups"), 400)
    assert "lines.0.item_id" in body["errors"]
    assert_envelope(await ship(api, admin, order_id, carrier="pigeon"), 400)
    await fetch_one("UPDATE orders SET payment_status = 'PENDING' WHERE id = %s RETURNING id", [order_id])
    assert_envelope(await ship(api, admin, order_id, carrier="ups"), 400)
    assert_envelope(await ship(api, user, order_id, carrier="ups"), 403)
    assert await count("shipment") == 0 and await order_status(order_id) == "PROCESSING"


@pytest.mark.gen_test
async def test_pending_shipment_then_shipped_and_tracking_events_per_shipment(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _items, _ = await paid_order(user)
    resp = await ship(api, admin, order_id, carrier="usps", tracking_number="9400 1000", status="pending")
    assert resp.status == 201 and resp.json()["shipped_at"] is None, resp
    shipment = resp.json()
    assert shipment["tracking_url"] == "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201000"
    assert await order_status(order_id) == "PROCESSING"  # packed, not handed over
    resp = await api.post(f"/api/orders/{order_id}/tracking/add/", user=admin,
                          json={"status": "SHIPPED", "location": "Hub", "shipment_id": shipment["id"]})
    assert resp.status == 200 and resp.json()["shipment_id"] == shipment["id"], resp
    assert resp.json()["carrier"] == "usps"
    assert_envelope(await api.post(f"/api/orders/{order_id}/tracking/add/", user=admin,
                                   json={"status": "SHIPPED", "shipment_id": 999999}), 400)
    resp = await api.post(f"/api/shipments/{shipment['id']}/status/", json={"status": "shipped"}, user=admin)
    assert resp.status == 200 and resp.json()["status"] == "shipped"
    assert await order_status(order_id) == "SHIPPED"
    # The order-wide tracking endpoints keep working.
    resp = await api.post(f"/api/orders/{order_id}/tracking/add/", user=admin, json={"status": "SHIPPED"})
    assert resp.status == 200 and resp.json()["shipment_id"] is None


@pytest.mark.gen_test
async def test_admin_shipment_list_filters_pages_in_one_query_and_csv(api, make_user, count_queries):
    admin, user = await make_user(is_staff=True), await make_user()
    for n in range(3):
        order_id, _items, _ = await paid_order(user, txn=f"t{n}")
        assert (await ship(api, admin, order_id, carrier=("ups", "dhl", "ups")[n],
                           tracking_number=f"TN{n}")).status == 201
    resp = await api.get("/api/shipments/?carrier=UPS&page_size=1", user=admin)
    assert resp.status == 200, resp
    page = resp.json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert page["results"][0]["tracking_number"] == "TN2"  # newest first
    resp = await api.get("/api/shipments/?search=TN1", user=admin)
    assert [s["tracking_number"] for s in resp.json()["results"]] == ["TN1"]
    assert (await api.get("/api/shipments/?status=delivered", user=admin)).json()["count"] == 0
    assert_envelope(await api.get("/api/shipments/?status=lost", user=admin), 400)
    assert_envelope(await api.get("/api/shipments/", user=user), 403)

    from models.fulfilment import queries

    with count_queries() as q:
        count_, rows = await queries.shipment_page(queries.ListFilters(carrier="ups"), 1, 10)
    assert count_ == 2 and len(rows) == 2 and len(q) == 1

    resp = await api.get("/api/shipments/export/?carrier=ups", user=admin)
    assert resp.status == 200, resp
    rows = list(csv.reader(io.StringIO(resp.body.decode())))
    assert rows[0][:3] == ["Shipment ID", "Order", "Customer Email"] and len(rows) == 3
    assert {r[6] for r in rows[1:]} == {"TN0", "TN2"}
    assert_envelope(await api.get("/api/shipments/export/?carrier=pigeon", user=admin), 400)


@pytest.mark.gen_test
async def test_carriers_are_listed(api):
    resp = await api.get("/api/carriers/")
    assert resp.status == 200
    codes = {c["code"]: c for c in resp.json()}
    assert {"ups", "fedex", "usps", "dhl", "royal_mail"} <= set(codes)
    assert "{number}" in codes["ups"]["tracking_url_template"]


@pytest.mark.gen_test
async def test_units_refunded_before_they_ship_are_not_shipped(api, make_user):
    """One chair of four refunded (the customer changed their mind) before anything left:
    three ship, and the order is SHIPPED with them."""
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (chairs,), _ = await paid_order(user, ((4, "25.00"),))
    resp = await api.post(f"/api/orders/{order_id}/refund/", user=admin,
                          json={"lines": [{"item_id": chairs, "quantity": 1}], "restock": True})
    assert resp.status == 200, resp
    assert_envelope(await ship(api, admin, order_id, lines=[{"item_id": chairs, "quantity": 4}], carrier="ups"), 400)
    resp = await ship(api, admin, order_id, carrier="ups")
    assert resp.status == 201 and resp.json()["lines"][0]["quantity"] == 3, resp
    assert await order_status(order_id) == "SHIPPED"
    resp = await api.post(f"/api/shipments/{resp.json()['id']}/status/", json={"status": "delivered"}, user=admin)
    assert await order_status(order_id) == "DELIVERED"
