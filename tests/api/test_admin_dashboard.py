"""Dashboard endpoints: shapes, deltas as orders and customers come, periods,
errors, one point per day, a fixed number of statements."""
from __future__ import annotations

import datetime as dt

import pytest

from models.accounts.tables import Customer
from models.core.db import utcnow
from models.orders.tables import Order
from tests.support.client import assert_envelope
from tests.support.factories import make_order, record_refund

D = "/api/dashboard/"


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True, full_name="Boss"))


async def customer(make_user, email: str, days_ago: int = 0) -> Customer:
    user = await make_user(email=email, full_name=email.split("@")[0].title())
    c = await Customer.aio_get(Customer.user == user.id)
    if days_ago:
        await Customer.update(created_at=utcnow() - dt.timedelta(days=days_ago)).where(
            Customer.id == c.id).aio_execute()
    return await Customer.aio_get(Customer.id == c.id)


@pytest.mark.gen_test
async def test_every_metric_is_admin_only(api, make_user):
    user = await make_user()
    for name in ("cart_metrics", "customer_metrics", "order_metrics", "sales_trend", "recent_orders",
                 "overview_metrics", "dashboard_summary"):
        assert_envelope(await api.get(D + name + "/"), 401)
        assert_envelope(await api.get(D + name + "/", user=user), 403)
    assert_envelope(await api.get(D + "summary-chart-data/", params={"metric": "sales"}, user=user), 403)


@pytest.mark.gen_test
async def test_invalid_period_lists_the_valid_ones(api, admin):
    for name in ("cart_metrics", "customer_metrics", "order_metrics", "sales_trend", "overview_metrics",
                 "dashboard_summary"):
        body = assert_envelope(await api.get(D + name + "/", params={"period": "decade"}, user=admin), 400)
        assert body["valid_periods"] == ["day", "week", "month", "year"], name
    body = assert_envelope(await api.get(D + "summary-chart-data/", params={"metric": "sales", "period": "decade"},
                                         user=admin), 400)
    assert body["valid_periods"] == ["last_7_days", "last_30_days", "this_month"]
    assert body["also_accepted"] == ["day", "week", "month", "year"]
    body = assert_envelope(await api.get(D + "summary-chart-data/", params={"metric": "profit"}, user=admin), 400)
    assert body["error"] == "Invalid metric specified. Choose from 'sales', 'orders_count', 'new_customers_count'."
    assert body["valid_metrics"] == ["sales", "orders_count", "new_customers_count"]
    assert_envelope(await api.get(D + "summary-chart-data/", user=admin), 400)
    assert_envelope(await api.get(D + "recent_orders/", params={"limit": "0"}, user=admin), 400)


@pytest.mark.gen_test
async def test_order_metrics_and_summary_follow_the_orders(api, admin, make_user):
    c = await customer(make_user, "ann@example.com")
    empty = (await api.get(D + "order_metrics/", user=admin)).json()
    assert empty["success"] is True and empty["data"]["total_orders"] == 0
    assert empty["data"]["total_revenue"] == "0.00" and empty["data"]["period"] == "week"
    o1 = await make_order(c, total="100.00", payment_status="PAID")
    await make_order(c, total="50.50", status="DELIVERED", payment_status="PAID")
    await make_order(c, total="30.00", created_at=utcnow() - dt.timedelta(days=20),  # outside the week
                     payment_status="PAID")
    o4 = await make_order(c, total="20.00")
    await Order.update(status="CANCELLED").where(Order.id == o4.id).aio_execute()
    await Order.update(status="PROCESSING").where(Order.id == o1.id).aio_execute()

    data = (await api.get(D + "order_metrics/", user=admin)).json()["data"]
    assert data["total_orders"] == 3 and data["total_revenue"] == "150.50"
    counts = {r["status"]: r["count"] for r in data["orders_by_status"]}
    assert counts == {"PENDING": 0, "PROCESSING": 1, "PARTIALLY_SHIPPED": 0, "SHIPPED": 0, "DELIVERED": 1, "CANCELLED": 1,
                      "RETURNED": 0, "DAMAGED": 0, "REFUNDED": 0}
    assert data["status_summary"]["all"] == {"count": 3, "total_value": 170.5, "avg_order_value": 56.83}
    assert data["status_summary"]["processing"] == {"count": 1, "total_value": 100.0, "avg_order_value": 100.0}
    month = (await api.get(D + "order_metrics/", params={"period": "month"}, user=admin)).json()["data"]
    assert month["total_orders"] == 4 and month["total_revenue"] == "180.50"

    summary = (await api.get(D + "dashboard_summary/", user=admin)).json()
    assert summary["period"] == "week" and summary["last_updated"].endswith("Z")
    assert summary["summary"]["all_orders"] == {"count": 3, "label": "All Orders"}
    assert summary["summary"]["cancelled_orders"] == {"count": 1, "label": "Cancelled"}
    assert summary["summary"]["total_revenue"] == 150.5


@pytest.mark.gen_test
async def test_overview_compares_with_the_previous_period(api, admin, make_user):
    old = await customer(make_user, "old@example.com", days_ago=10)
    await customer(make_user, "new@example.com")
    await make_order(old, total="10.00", created_at=utcnow() - dt.timedelta(days=9))
    await make_order(old, total="10.00", created_at=utcnow() - dt.timedelta(days=8), status="DELIVERED")
    await make_order(old, total="10.00")
    await make_order(old, total="10.00", status="DELIVERED")
    await make_order(old, total="10.00", status="DELIVERED")
    body = (await api.get(D + "overview_metrics/", user=admin)).json()
    assert body["period"] == "week"
    assert body["orders"]["all_orders"] == {"count": 3, "growth": 50.0}
    assert body["orders"]["delivered"] == {"count": 2, "growth": 100.0}
    assert body["orders"]["pending"] == {"count": 1, "growth": 0.0}
    assert body["orders"]["cancelled"] == {"count": 0, "growth": 0.0}
    # admin + "new" joined this week; "old" 10 days ago.
    assert body["customers"] == {"new_customers": 2, "new_customers_growth": 100.0, "total_customers": 3,
                                 "total_growth": 200.0}
    assert body["active_customers"]["count"] == 3
    assert body["abandoned_cart"]["total_carts"] == 3 and body["abandoned_cart"]["abandoned_count"] == 0
    day = (await api.get(D + "overview_metrics/", params={"period": "day"}, user=admin)).json()
    assert day["orders"]["all_orders"]["count"] == 3


@pytest.mark.gen_test
async def test_customer_metrics(api, admin, make_user):
    await customer(make_user, "a@example.com", days_ago=100)
    b = await customer(make_user, "b@example.com")
    await Customer.update(status="blocked").where(Customer.id == b.id).aio_execute()
    data = (await api.get(D + "customer_metrics/", params={"period": "month"}, user=admin)).json()["data"]
    assert data == {"total_customers": 3, "active_customers": 2, "new_customers": 2, "growth_rate": 2.0,
                    "period": "month"}


@pytest.mark.gen_test
async def test_sales_trend_and_chart_have_one_point_per_day(api, admin, make_user):
    c = await customer(make_user, "ann@example.com", days_ago=3)
    today = utcnow().date()
    await make_order(c, total="12.50", created_at=utcnow() - dt.timedelta(days=2), payment_status="PAID")
    await make_order(c, total="7.50", created_at=utcnow() - dt.timedelta(days=2), payment_status="PAID")
    await make_order(c, total="5.00", payment_status="PAID")
    await make_order(c, total="900.00")  # not paid: no revenue
    trend = (await api.get(D + "sales_trend/", user=admin)).json()["data"]
    assert [p["date"] for p in trend] == [(today - dt.timedelta(days=6 - i)).isoformat() for i in range(7)]
    assert trend[-3] == {"date": (today - dt.timedelta(days=2)).isoformat(), "revenue": "20.00", "orders": 2}
    assert trend[-1]["revenue"] == "5.00" and trend[-1]["orders"] == 2 and trend[0] == {"date": trend[0]["date"], "revenue": "0.00", "orders": 0}

    sales = (await api.get(D + "summary-chart-data/", params={"metric": "sales"}, user=admin)).json()
    assert sales["metric_label"] == "Total Sales" and sales["period_label"] == "Last 7 Days"
    assert len(sales["chart_data"]) == 7 and sales["chart_data"][-3]["value"] == "20.00"
    counts = (await api.get(D + "summary-chart-data/", params={"metric": "orders_count", "period": "last_30_days"},
                            user=admin)).json()["chart_data"]
    assert len(counts) == 30 and counts[-3]["value"] == 2 and counts[-1]["value"] == 2 and counts[0]["value"] == 0
    newc = (await api.get(D + "summary-chart-data/", params={"metric": "new_customers_count",
                                                             "period": "this_month"}, user=admin)).json()
    assert len(newc["chart_data"]) == today.day and newc["chart_data"][0]["date"] == today.replace(day=1).isoformat()
    assert newc["chart_data"][-1]["value"] == 1  # the admin joined today


@pytest.mark.gen_test
async def test_recent_orders(api, admin, make_user):
    c = await customer(make_user, "alice@example.com")
    for i in range(8):
        await make_order(c, total=f"{100 + i}.00", created_at=utcnow() - dt.timedelta(minutes=10 - i),
                         items=[("Ergonomic Chair", 1, "100"), ("Lamp", 2, "0.50")])
    body = (await api.get(D + "recent_orders/", user=admin)).json()
    assert body["total_count"] == 8 and len(body["recent_orders"]) == 6
    first = body["recent_orders"][0]
    assert first["total"] == 107.0 and first["status"] == "PENDING" and first["status_display"] == "Pending"
    assert first["customer_email"] == "alice@example.com" and first["items_count"] == 2
    assert first["first_product_name"] == "Ergonomic Chair" and first["order_number"].startswith("ORD-")
    assert first["items"][1] == {"product_name": "Lamp", "quantity": 2, "price": "0.50"}
    assert len((await api.get(D + "recent_orders/", params={"limit": 2}, user=admin)).json()["recent_orders"]) == 2


@pytest.mark.gen_test
async def test_cart_metrics_shape(api, admin):
    body = (await api.get(D + "cart_metrics/", params={"period": "month"}, user=admin)).json()
    assert body["success"] is True and body["data"]["period"] == "month"
    assert set(body["data"]) >= {"abandoned_rate", "total_carts", "abandoned_carts", "recovered_revenue"}


async def abandon(user, days_ago: float, order=None) -> None:
    """An abandoned-cart episode as the cart's job records it (models/cart/abandoned.py)."""
    from models.core.db import fetch_one

    at = utcnow() - dt.timedelta(days=days_ago)
    cart = await fetch_one("SELECT id FROM cart WHERE user_id = %s", [user.id])
    if cart is None:
        cart = await fetch_one("INSERT INTO cart (user_id, created_at, updated_at) VALUES (%s, %s, %s) "
                               "RETURNING id", [user.id, at, at])
    await fetch_one(
        "INSERT INTO abandoned_cart (cart_id, user_id, abandoned_at, items, subtotal, token, reminders_sent, "
        "order_id, recovered_at, closed_at) VALUES (%s, %s, %s, '[]', 0, md5(random()::text), %s, %s, %s, %s) "
        "RETURNING id",
        [cart[0], user.id, at, 1 if order else 0, order.id if order else None,
         utcnow() if order else None, utcnow() if order else None])


@pytest.mark.gen_test
async def test_cart_metrics_count_abandoned_and_recovered_carts(api, admin, make_user):
    from models.dashboard.metrics import has_cart_tables

    if not await has_cart_tables():
        pytest.skip("the cart (abandoned_cart table) has not landed on this branch")
    c = await customer(make_user, "ann@example.com")
    user = await make_user(email="bob@example.com")
    recovered = await make_order(c, total="80.00")
    await make_order(c, total="20.00")
    await abandon(user, 2)
    await abandon(admin, 1, order=recovered)
    await abandon(user, 10)  # previous week
    data = (await api.get(D + "cart_metrics/", user=admin)).json()["data"]
    assert data == {"abandoned_rate": 0.5, "total_carts": 4, "abandoned_carts": 2, "recovered_carts": 1,
                    "recovered_revenue": "80.00", "period": "week"}
    over = (await api.get(D + "overview_metrics/", user=admin)).json()["abandoned_cart"]
    assert over == {"rate": 50.0, "change": -50.0, "total_carts": 4, "abandoned_count": 2, "recovered_count": 1,
                    "recovered_revenue": 80.0}
    user_c = await Customer.aio_get(Customer.user == user.id)
    stats = (await api.get(f"/api/customers/{user_c.id}/statistics/", user=admin)).json()
    assert stats["abandoned_carts_count"] == 2


@pytest.mark.gen_test
async def test_metrics_run_a_fixed_number_of_statements(api, admin, make_user, count_queries):
    c = await customer(make_user, "ann@example.com")
    seen = {}
    for n in (1, 30):
        for i in range(n - (1 if n == 30 else 0)):
            await make_order(c, created_at=utcnow() - dt.timedelta(days=i % 20))
        for name, params in (("overview_metrics", {"period": "year"}), ("dashboard_summary", {}),
                             ("order_metrics", {}), ("summary-chart-data/", {"metric": "sales"}),
                             ("recent_orders", {})):
            with count_queries() as q:
                assert (await api.get(D + name.rstrip("/") + "/", params=params, user=admin)).status == 200
            seen.setdefault(name, set()).add(len(q))
    assert all(len(v) == 1 for v in seen.values()), seen
    assert max(max(v) for v in seen.values()) <= 4


@pytest.mark.gen_test
async def test_openapi_documents_the_metric_definitions(api):
    doc = (await api.get("/api/schema/")).json()
    op = doc["paths"]["/api/dashboard/overview_metrics/"]["get"]
    assert "order_is_paid" in op.get("description", "") + op.get("summary", "")


@pytest.mark.gen_test
async def test_cached_answers_follow_every_write(api, admin, make_user, count_queries):
    """The overview and the recent orders are cached per process under the
    order, catalog and dashboard versions: a repeat costs one statement (the
    user and the versions), and every write that changes an answer shows on
    the next request."""
    from models.core.db import fetch_one
    from models.dashboard.metrics import has_cart_tables
    from tests.support.factories import product

    await has_cart_tables()  # remembered per process: not a statement of the requests below
    pid = await product("Lamp", images=1)  # a catalog version row
    c = await customer(make_user, "ann@example.com")
    user = await make_user(email="bob@example.com")
    first = await make_order(c, total="10.00", payment_status="PAID")
    await fetch_one("UPDATE order_item SET product_id = %s WHERE order_id = %s RETURNING id", [pid, first.id])

    async def overview():
        return (await api.get(D + "overview_metrics/", params={"period": "year"}, user=admin)).json()

    async def recent():
        return (await api.get(D + "recent_orders/", user=admin)).json()

    async def settled(read):
        """The answer, read twice: the first builds it (a write came before), the
        repeat comes from the cache: one statement, the versions riding along
        with the staff user's lookup (BaseHandler.reads)."""
        with count_queries() as built:
            body = await read()
        with count_queries() as q:
            again = await read()
        assert (len(built), len(q)) == (2, 1), (built, q)
        body.pop("last_updated", None), again.pop("last_updated", None)
        assert again == body
        return body

    o = await settled(overview)
    r = await settled(recent)
    assert o["orders"]["all_orders"]["count"] == 1 and o["revenue"]["total"] == 10.0
    assert r["total_count"] == 1 and r["recent_orders"][0]["product_image"].endswith(f"/p/{pid}-0.jpg")

    second = await make_order(c, total="5.00", payment_status="PAID")  # an order
    o, r = await settled(overview), await settled(recent)
    assert o["orders"]["all_orders"]["count"] == 2 and o["revenue"]["total"] == 15.0
    assert r["total_count"] == 2 and r["recent_orders"][0]["id"] == second.id

    await Order.update(status="CANCELLED", payment_status="REFUNDED", refunded_amount=second.total).where(
        Order.id == second.id).aio_execute()  # its status, and its refund
    await record_refund(second.id, second.total)
    o, r = await settled(overview), await settled(recent)
    assert o["orders"]["cancelled"]["count"] == 1 and o["revenue"]["total"] == 10.0
    assert r["recent_orders"][0]["status"] == "CANCELLED"

    await fetch_one("UPDATE order_item SET quantity = 3 WHERE order_id = %s RETURNING id", [first.id])  # an item
    assert (await settled(recent))["recent_orders"][1]["items"][0]["quantity"] == 3

    await fetch_one("UPDATE product SET main_image = 'http://testserver/media/new.jpg' WHERE id = %s "
                    "RETURNING id", [pid])  # the product's image
    assert (await settled(recent))["recent_orders"][1]["product_image"] == "http://testserver/media/new.jpg"

    before = o["customers"]["total_customers"]
    await make_user(email="cy@example.com")  # a customer
    o = await settled(overview)
    assert o["customers"]["total_customers"] == before + 1
    active = o["active_customers"]["count"]
    await Customer.update(status="blocked").where(Customer.id == c.id).aio_execute()  # a customer's status
    o = await settled(overview)
    assert o["active_customers"]["count"] == active - 1

    await abandon(user, 1)  # an abandoned cart
    o = await settled(overview)
    assert o["abandoned_cart"]["abandoned_count"] == 1
    await fetch_one("DELETE FROM abandoned_cart RETURNING id")
    assert (await settled(overview))["abandoned_cart"]["abandoned_count"] == 0


@pytest.mark.gen_test
async def test_unpaid_order_is_not_revenue(api, admin, make_user):
    """One customer request used to add 9,999,999,999.99 to today's revenue."""
    from tests.support.client import post_order
    from tests.support.factories import product

    async def revenue() -> tuple[str, float, str]:
        om = (await api.get(D + "order_metrics/", params={"period": "day"}, user=admin)).json()["data"]
        ov = (await api.get(D + "overview_metrics/", params={"period": "day"}, user=admin)).json()
        trend = (await api.get(D + "sales_trend/", user=admin)).json()["data"]
        return om["total_revenue"], ov["revenue"]["total"], trend[-1]["revenue"]

    shopper = await make_user(email="hoarder@example.com")
    pid = await product("Palace", stock=5, base_price="9999999999.99")
    cheap = await product("Mug", stock=5, base_price="40.00")
    resp = await post_order(api, shopper, [{"product_id": pid, "quantity": 1}])
    assert resp.status == 201, resp
    assert await revenue() == ("0.00", 0.0, "0.00")
    from models.core.db import fetch_one

    async def balance():
        return (await fetch_one("SELECT balance FROM customer WHERE user_id = %s", [shopper.id]))[0]

    assert await balance() == 0

    paid = (await post_order(api, shopper, [{"product_id": cheap, "quantity": 1}])).json()["order_id"]
    await api.patch(f"/api/orders/{paid}/", json={"payment_status": "PAID"}, user=admin)  # cash received
    assert await revenue() == ("40.00", 40.0, "40.00")
    # A partial refund (as the refund action records it) is subtracted.
    await Order.update(payment_status="PARTIALLY_REFUNDED", refunded_amount=15).where(Order.id == paid).aio_execute()
    await record_refund(paid, "15.00")
    assert await revenue() == ("25.00", 25.0, "25.00")
    assert await balance() == 25
