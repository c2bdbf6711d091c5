"""Shipments staff correct (issue 21 follow-ups): the tracking details of a
shipment not delivered yet (URL rebuilt, the customer told only when it had
shipped), a cancelled shipment (its units ship again, the order steps back,
staff still cannot), cancel racing a status update or another cancel; an
order whose every unit came back becomes RETURNED (status counts follow,
revenue does not move); a refund outside a return restocks per line only
units that never shipped. Every refusal changes nothing."""
from __future__ import annotations

import asyncio

import pytest

from models.core.db import fetch_all, fetch_one
from models.dashboard import metrics
from tests.api.test_admin_shipments import order_status, paid_order, ship
from tests.support.client import assert_envelope
from tests.support.factories import count, stock_of


async def shipment_jobs() -> list[list]:
    """The customer emails queued for shipments, oldest first: [shipment id, status]."""
    return [r[0] for r in await fetch_all("SELECT args FROM outbox_job WHERE task = 'tasks.fulfilment.shipment_updated' "
                                          "ORDER BY created_at, id")]


async def snapshot(shipment_id: int) -> tuple:
    return await fetch_one("SELECT s.status, s.carrier, s.tracking_number, s.tracking_url, s.note, s.updated_at, "
                           "o.status, o.updated_at, (SELECT count(*) FROM order_tracking t WHERE t.order_id = o.id), "
                           "(SELECT count(*) FROM outbox_job) FROM shipment s JOIN orders o ON o.id = s.order_id "
                           "WHERE s.id = %s", [shipment_id])


@pytest.mark.gen_test(timeout=60)
async def test_edit_tracking_rebuilds_the_url_and_tells_the_customer_only_once_shipped(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (sofa, lamp), _ = await paid_order(user)
    packed = (await ship(api, admin, order_id, lines=[{"item_id": sofa, "quantity": 2}], carrier="ups",
                         status="pending")).json()
    sent = (await ship(api, admin, order_id, lines=[{"item_id": lamp, "quantity": 1}], carrier="ups",
                       tracking_number="1ZWRONG", tracking_url="https://track.example.com/1ZWRONG")).json()
    assert await shipment_jobs() == [[sent["id"], "shipped"]]

    # A packed shipment changes silently.
    resp = await api.patch(f"/api/shipments/{packed['id']}/", json={"carrier": "DHL", "tracking_number": "JD1"},
                           user=admin)
    assert resp.status == 200, resp
    assert resp.json()["carrier"] == "dhl" and resp.json()["tracking_number"] == "JD1"
    assert "tracking-id=JD1" in resp.json()["tracking_url"]
    assert await shipment_jobs() == [[sent["id"], "shipped"]]

    # A shipped one: the number staff typed replaces the address they had typed for the old one.
    resp = await api.patch(f"/api/shipments/{sent['id']}/", json={"tracking_number": " 1Z999AA10123456784 "},
                           user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["tracking_number"] == "1Z999AA10123456784" and body["carrier"] == "ups" and body["status"] == "shipped"
    assert body["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert await shipment_jobs() == [[sent["id"], "shipped"], [sent["id"], "corrected"]]
    events = (await api.get(f"/api/orders/{order_id}/tracking/", user=user)).json()
    assert any("tracking details corrected: UPS, tracking number 1Z999AA10123456784" in e["description"]
               for e in events if e["shipment_id"] == sent["id"])
    # An address given with it wins; a note alone is no correction of the tracking (no email).
    resp = await api.patch(f"/api/shipments/{sent['id']}/", user=admin,
                           json={"tracking_url": "https://track.example.com/x", "note": "fragile"})
    assert resp.json()["tracking_url"] == "https://track.example.com/x" and resp.json()["note"] == "fragile"
    resp = await api.patch(f"/api/shipments/{sent['id']}/", json={"note": "very fragile"}, user=admin)
    assert resp.status == 200 and resp.json()["note"] == "very fragile"
    assert len(await shipment_jobs()) == 3
    # The same again is a no-op.
    before = await snapshot(sent["id"])
    assert (await api.patch(f"/api/shipments/{sent['id']}/", json={"note": "very fragile"}, user=admin)).status == 200
    assert await snapshot(sent["id"]) == before

    # Refused, nothing changed: bad input, a customer, a delivered shipment, a cancelled one.
    for bad in ({"carrier": "pigeon"}, {"tracking_url": "ftp://x"}, {"status": "delivered"}, {"tracking_number": 5}):
        assert_envelope(await api.patch(f"/api/shipments/{sent['id']}/", json=bad, user=admin), 400)
    assert_envelope(await api.patch(f"/api/shipments/{sent['id']}/", json={"note": "x"}, user=user), 403)
    assert_envelope(await api.patch("/api/shipments/999999/", json={"note": "x"}, user=admin), 404)
    assert await snapshot(sent["id"]) == before
    assert (await api.post(f"/api/shipments/{sent['id']}/status/", json={"status": "delivered"}, user=admin)).status == 200
    delivered = await snapshot(sent["id"])
    body = assert_envelope(await api.patch(f"/api/shipments/{sent['id']}/", json={"tracking_number": "N"},
                                           user=admin), 400)
    assert "return" in body["message"]
    assert await snapshot(sent["id"]) == delivered
    assert (await api.post(f"/api/shipments/{packed['id']}/cancel/", json={}, user=admin)).status == 200
    cancelled = await snapshot(packed["id"])
    assert_envelope(await api.patch(f"/api/shipments/{packed['id']}/", json={"tracking_number": "N"}, user=admin), 409)
    assert await snapshot(packed["id"]) == cancelled


@pytest.mark.gen_test(timeout=60)
async def test_cancel_steps_the_order_back_the_units_ship_again_then_delivered(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (sofa, lamp), (sofa_pid, _lamp_pid) = await paid_order(user)
    first = (await ship(api, admin, order_id, lines=[{"item_id": sofa, "quantity": 2}], carrier="ups",
                        tracking_number="A1")).json()
    second = (await ship(api, admin, order_id, carrier="dhl", tracking_number="B2")).json()
    assert await order_status(order_id) == "SHIPPED"
    stock = await stock_of(sofa_pid)

    resp = await api.post(f"/api/shipments/{second['id']}/cancel/", json={"reason": "Label voided"}, user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["status"] == "cancelled" and body["cancelled_at"] and body["cancel_reason"] == "Label voided"
    assert body["order_status"] == "PARTIALLY_SHIPPED"
    # Staff still cannot step an order back by hand.
    assert_envelope(await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "PROCESSING"},
                                    user=admin), 400)
    resp = await api.post(f"/api/shipments/{first['id']}/cancel/", json={}, user=admin)
    assert resp.status == 200 and resp.json()["order_status"] == "PROCESSING", resp
    assert await stock_of(sofa_pid) == stock  # the order still holds its units

    # Both were announced: one email each for the cancellation; order status emails none.
    assert await shipment_jobs() == [[first["id"], "shipped"], [second["id"], "shipped"],
                                     [second["id"], "cancelled"], [first["id"], "cancelled"]]
    assert await count("outbox_job", "task = 'tasks.orders.order_status_changed'") == 0
    events = [(e["status"], e["description"]) for e in
              (await api.get(f"/api/orders/{order_id}/tracking/", user=user)).json()]
    assert ("PARTIALLY_SHIPPED", f"Shipment {second['id']} cancelled: Label voided") in events
    assert ("PROCESSING", f"Order processing again: shipment {first['id']} cancelled") in events
    view = (await api.get(f"/api/orders/{order_id}/", user=user)).json()
    assert [s["status"] for s in view["shipments"]] == ["cancelled", "cancelled"]

    # Ship again (every unit is unshipped again), deliver: DELIVERED.
    again = await ship(api, admin, order_id, carrier="fedex", tracking_number="C3")
    assert again.status == 201, again
    assert sorted((l["item_id"], l["quantity"]) for l in again.json()["lines"]) == [(sofa, 2), (lamp, 1)]
    assert await order_status(order_id) == "SHIPPED"
    resp = await api.post(f"/api/shipments/{again.json()['id']}/status/", json={"status": "delivered"}, user=admin)
    assert resp.status == 200 and await order_status(order_id) == "DELIVERED"

    # Refused, nothing changed: delivered (400), cancelled again (409), a cancelled one moved on (400), a customer.
    delivered = await snapshot(again.json()["id"])
    body = assert_envelope(await api.post(f"/api/shipments/{again.json()['id']}/cancel/", json={}, user=admin), 400)
    assert "return" in body["message"]
    assert await snapshot(again.json()["id"]) == delivered
    cancelled = await snapshot(first["id"])
    assert_envelope(await api.post(f"/api/shipments/{first['id']}/cancel/", json={}, user=admin), 409)
    assert_envelope(await api.post(f"/api/shipments/{first['id']}/status/", json={"status": "delivered"},
                                   user=admin), 400)
    assert_envelope(await api.post(f"/api/shipments/{first['id']}/cancel/", json={"why": "x"}, user=admin), 400)
    assert_envelope(await api.post(f"/api/shipments/{first['id']}/cancel/", json={}, user=user), 403)
    assert_envelope(await api.post("/api/shipments/999999/cancel/", json={}, user=admin), 404)
    assert await snapshot(first["id"]) == cancelled
    # The list filters cancelled shipments.
    resp = await api.get("/api/shipments/?status=cancelled", user=admin)
    assert resp.json()["count"] == 2


@pytest.mark.gen_test(timeout=60)
async def test_a_packed_shipment_cancelled_is_silent_and_the_order_stays(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, _items, _ = await paid_order(user)
    packed = (await ship(api, admin, order_id, carrier="ups", status="pending")).json()
    resp = await api.post(f"/api/shipments/{packed['id']}/cancel/", user=admin)
    assert resp.status == 200 and resp.json()["order_status"] == "PROCESSING", resp
    assert await shipment_jobs() == []
    assert (await ship(api, admin, order_id, carrier="ups")).status == 201


@pytest.mark.gen_test(timeout=60)
async def test_cancel_racing_a_delivery_and_a_second_cancel_acts_once(api, make_user):
    admin, other, user = await make_user(is_staff=True), await make_user(is_staff=True), await make_user()
    for n in range(3):
        order_id, _items, _ = await paid_order(user, txn=f"race{n}")
        shipment = (await ship(api, admin, order_id, carrier="ups", tracking_number=f"R{n}")).json()
        results = await asyncio.gather(
            api.post(f"/api/shipments/{shipment['id']}/cancel/", json={}, user=admin),
            api.post(f"/api/shipments/{shipment['id']}/cancel/", json={}, user=other),
            api.post(f"/api/shipments/{shipment['id']}/status/", json={"status": "delivered"}, user=other))
        codes = [r.status for r in results]
        status = (await fetch_one("SELECT status FROM shipment WHERE id = %s", [shipment["id"]]))[0]
        if status == "cancelled":
            assert sorted(codes[:2]) == [200, 409] and codes[2] == 400, results
            assert await order_status(order_id) == "PROCESSING"
        else:
            assert status == "delivered" and codes == [400, 400, 200], results
            assert await order_status(order_id) == "DELIVERED"
        cancels = await count("order_tracking", "shipment_id = %s AND description LIKE 'Shipment %%cancelled%%'",
                              [shipment["id"]])
        assert cancels == (1 if status == "cancelled" else 0)
        jobs = [j for j in await shipment_jobs() if j[0] == shipment["id"]]
        assert len(jobs) == 2  # shipped, then cancelled or delivered: once


async def delivered(api, admin, user, lines=((2, "50.00"), (1, "300.00")), txn="txn_r"):
    order_id, items, pids = await paid_order(user, lines, txn=txn)
    shipment = (await ship(api, admin, order_id, carrier="dhl")).json()
    assert (await api.post(f"/api/shipments/{shipment['id']}/status/", json={"status": "delivered"},
                           user=admin)).status == 200
    return order_id, items, pids


async def returned(api, admin, user, order_id, lines, *, refund=None) -> dict:
    ret = (await api.post(f"/api/orders/{order_id}/returns/", user=user,
                          json={"lines": lines, "reason": "Not for us"})).json()
    for step in ("approve", "receive"):
        resp = await api.post(f"/api/returns/{ret['id']}/{step}/", json={}, user=admin)
        assert resp.status == 200, resp
    if refund is not None:
        resp = await api.post(f"/api/returns/{ret['id']}/refund/", json=refund, user=admin)
        assert resp.status == 200, resp
        return resp.json()
    return ret


async def status_count(status: str) -> int:
    row = await fetch_one("SELECT coalesce(sum(n), 0) FROM order_status_count WHERE status = %s", [status])
    return int(row[0])


@pytest.mark.gen_test(timeout=60)
async def test_an_order_whose_every_unit_came_back_is_returned_and_the_rollups_follow(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (sofa, lamp), _ = await delivered(api, admin, user)
    t = metrics.today()
    revenue = (await metrics.order_figures(t, t))["revenue"]
    # One unit back of three, refunded: still DELIVERED.
    body = await returned(api, admin, user, order_id, [{"item_id": sofa, "quantity": 1}],
                          refund={"restocking_fee": "5.00"})
    assert body["refund"]["status"] == "DELIVERED"
    assert await order_status(order_id) == "DELIVERED"
    # The rest back (received, not refunded yet): RETURNED, in the counts and the day's rollup.
    await returned(api, admin, user, order_id, [{"item_id": sofa, "quantity": 1}, {"item_id": lamp, "quantity": 1}])
    assert await order_status(order_id) == "RETURNED"
    assert await status_count("RETURNED") == 1 and await status_count("DELIVERED") == 0
    figures = await metrics.order_figures(t, t)
    assert figures["by_status"]["RETURNED"]["count"] == 1 and figures["by_status"]["DELIVERED"]["count"] == 0
    assert figures["revenue"] == revenue - 45  # the first refund only: the status moves no money
    await fetch_one("SELECT dashboard_rollups_rebuild() IS NULL")
    assert (await metrics.order_figures(t, t))["by_status"]["RETURNED"]["count"] == 1
    events = (await api.get(f"/api/orders/{order_id}/tracking/", user=user)).json()
    assert ("RETURNED", "Every item came back") in [(e["status"], e["description"]) for e in events]
    assert await count("outbox_job", "task = 'tasks.orders.order_status_changed'") == 0  # the return's email says it
    # Transitions stay true: no way back for staff; a full refund goes on to REFUNDED.
    assert_envelope(await api.patch(f"/api/orders/{order_id}/update_status/", json={"status": "DELIVERED"},
                                    user=admin), 400)
    assert_envelope(await api.post(f"/api/orders/{order_id}/shipments/", json={"carrier": "ups"}, user=admin), 400)
    resp = await api.post(f"/api/orders/{order_id}/refund/", json={}, user=admin)
    assert resp.status == 200 and resp.json()["status"] == "REFUNDED", resp


@pytest.mark.gen_test(timeout=60)
async def test_units_kept_or_still_on_their_way_keep_the_order_from_returned(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    # Two shipments, one delivered and returned: the other is on its way.
    order_id, (sofa, lamp), _ = await paid_order(user, txn="txn_w")
    first = (await ship(api, admin, order_id, lines=[{"item_id": sofa, "quantity": 2}], carrier="ups")).json()
    await ship(api, admin, order_id, carrier="ups")
    await api.post(f"/api/shipments/{first['id']}/status/", json={"status": "delivered"}, user=admin)
    await returned(api, admin, user, order_id, [{"item_id": sofa, "quantity": 2}])
    assert await order_status(order_id) == "SHIPPED"
    # A rejected return brings nothing back.
    order_id, (sofa, lamp), _ = await delivered(api, admin, user, txn="txn_x")
    ret = (await api.post(f"/api/orders/{order_id}/returns/", user=user, json={
        "lines": [{"item_id": sofa, "quantity": 2}, {"item_id": lamp, "quantity": 1}], "reason": "x"})).json()
    assert (await api.post(f"/api/returns/{ret['id']}/approve/", json={}, user=admin)).status == 200
    assert (await api.post(f"/api/returns/{ret['id']}/reject/", json={}, user=admin)).status == 200
    assert await order_status(order_id) == "DELIVERED"


@pytest.mark.gen_test(timeout=60)
async def test_refund_lines_restock_only_units_that_never_shipped(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    order_id, (chairs,), (chair,) = await paid_order(user, ((4, "25.00"),), txn="txn_c")
    assert (await ship(api, admin, order_id, lines=[{"item_id": chairs, "quantity": 2}], carrier="ups")).status == 201
    stock = await stock_of(chair)

    def before():
        return asyncio.gather(count("refund"), stock_of(chair), fetch_one(
            "SELECT refunded_amount, payment_status, status FROM orders WHERE id = %s", [order_id]))

    unchanged = await before()
    # Three to restock, two on the shelf: 400 naming the line; the body's restock without lines: 400.
    body = assert_envelope(await api.post(f"/api/orders/{order_id}/refund/", user=admin, json={
        "lines": [{"item_id": chairs, "quantity": 3, "restock": True}]}), 400)
    assert "lines.0.restock" in body["errors"] and "return" in body["errors"]["lines.0.restock"][0]
    body = assert_envelope(await api.post(f"/api/orders/{order_id}/refund/", user=admin, json={"restock": True}), 400)
    assert "restock" in body["errors"]
    assert_envelope(await api.post(f"/api/orders/{order_id}/refund/", user=admin, json={
        "lines": [{"item_id": chairs, "quantity": 1, "restock": "maybe"}]}), 400)
    assert await before() == unchanged

    # One never shipped (restocked, no longer to ship); one not restocked though the body says restock.
    resp = await api.post(f"/api/orders/{order_id}/refund/", user=admin, json={
        "lines": [{"item_id": chairs, "quantity": 1, "restock": "true"}]})
    assert resp.status == 200 and resp.json()["restocked"] is True and resp.json()["amount"] == "25.00", resp
    assert await stock_of(chair) == stock + 1
    resp = await api.post(f"/api/orders/{order_id}/refund/", user=admin, json={
        "restock": True, "lines": [{"item_id": chairs, "quantity": 1, "restock": False}]})
    assert resp.status == 200 and resp.json()["restocked"] is False, resp
    assert await stock_of(chair) == stock + 1
    lines = [r[0] for r in await fetch_all("SELECT lines FROM refund WHERE order_id = %s ORDER BY id", [order_id])]
    assert [l[0]["restocked"] for l in lines] == [True, False]
    # Nothing is left to ship: the order is SHIPPED with its two units, as the refund answered.
    assert resp.json()["status"] == "SHIPPED" and await order_status(order_id) == "SHIPPED"
    assert_envelope(await api.post(f"/api/orders/{order_id}/shipments/", json={"carrier": "ups"}, user=admin), 409)


@pytest.mark.gen_test(timeout=90)
async def test_a_restocking_refund_racing_a_shipment_of_the_same_units_never_both(api, make_user):
    """The refund's "restocked units never shipped" rule is checked under the
    order's lock (refund_order's check), as a new shipment takes it: the two
    racing for the last units on the shelf, one wins; never a unit shipped
    and back on the shelf."""
    admin, user = await make_user(is_staff=True), await make_user()
    outcomes = set()
    for n in range(6):
        order_id, (chairs,), (chair,) = await paid_order(user, ((2, "25.00"),), txn=f"txn_rr{n}")
        stock = await stock_of(chair)
        refund, shipment = await asyncio.gather(
            api.post(f"/api/orders/{order_id}/refund/", user=admin,
                     json={"lines": [{"item_id": chairs, "quantity": 2, "restock": True}]}),
            ship(api, admin, order_id, lines=[{"item_id": chairs, "quantity": 2}], carrier="ups"))
        shipped = await fetch_one("SELECT coalesce(sum(sl.quantity), 0) FROM shipment_line sl JOIN shipment s "
                                  "ON s.id = sl.shipment_id WHERE s.order_id = %s", [order_id])
        restocked = await stock_of(chair) - stock
        assert shipped[0] + restocked == 2, (refund, shipment, shipped, restocked)
        assert {refund.status, shipment.status} in ({200, 400}, {201, 400}), (refund, shipment)
        outcomes.add((refund.status, shipment.status))
    assert outcomes  # (which one wins depends on who locks the order first)
