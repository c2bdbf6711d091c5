"""Customer management: list (one statement, filters, search, orderings,
pagination), create, detail, statistics, transactions, edit, block, delete,
bulk actions and exports."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from models.accounts.actions import login
from models.accounts.tables import Customer, RefreshToken, User
from tests.support.client import assert_envelope
from tests.support.factories import make_order


@pytest.fixture
def admin(make_user, io_loop):
    return io_loop.run_sync(lambda: make_user(email="admin@example.com", is_staff=True, full_name="Boss"))


async def customer_of(user) -> Customer:
    return await Customer.aio_get(Customer.user == user.id)


async def make_customers(make_user, n: int) -> list[Customer]:
    out = []
    for i in range(n):
        user = await make_user(email=f"c{i:02d}@example.com", full_name=f"Customer {i:02d}")
        c = await customer_of(user)
        created = dt.datetime(2024, 1, 1) + dt.timedelta(days=i)
        await Customer.update(created_at=created, name=f"Customer {i:02d}").where(Customer.id == c.id).aio_execute()
        out.append(await Customer.aio_get(Customer.id == c.id))
    return out


@pytest.mark.gen_test
async def test_list_is_paginated_by_10_with_spec_fields(api, admin, make_user):
    await make_customers(make_user, 12)
    resp = await api.get("/api/customers/", user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["count"] == 13 and len(body["results"]) == 10 and body["previous"] is None
    assert body["next"].startswith("http://") and "page=2" in body["next"]
    first = body["results"][0]
    assert set(first) == {"id", "name", "email", "phone", "status", "orders_count", "balance", "created_at"}
    assert first["balance"] == "0.00" and first["status"] == "active"
    page2 = (await api.get("/api/customers/", params={"page": 2}, user=admin)).json()
    assert len(page2["results"]) == 3 and page2["next"] is None
    assert_envelope(await api.get("/api/customers/", params={"page": 3}, user=admin), 404)
    big = (await api.get("/api/customers/", params={"page_size": 500}, user=admin)).json()
    assert len(big["results"]) == 13


@pytest.mark.gen_test
async def test_list_takes_one_statement_whatever_the_page_size(api, admin, make_user, count_queries):
    await make_customers(make_user, 15)
    counts = []
    for size in (2, 15):
        with count_queries() as q:
            resp = await api.get("/api/customers/", params={"page_size": size, "search": "cust",
                                                            "ordering": "-balance"}, user=admin)
        assert resp.status == 200
        counts.append(len(q))
    assert counts[0] == counts[1] == 2  # the staff user's lookup + the page


@pytest.mark.gen_test
async def test_filters_search_and_orderings(api, admin, make_user):
    cs = await make_customers(make_user, 4)
    await Customer.update(status="blocked", phone="+2348012345678").where(Customer.id == cs[1].id).aio_execute()
    await make_order(cs[2], total="50.00", payment_status="PAID")
    await make_order(cs[2], total="25.50", status="DELIVERED", payment_status="PAID")
    await make_order(cs[3], total="500.00", status="CANCELLED")  # counted, but not a sale

    async def ids(**params):
        resp = await api.get("/api/customers/", params=params, user=admin)
        assert resp.status == 200, resp
        return [r["id"] for r in resp.json()["results"]]

    assert await ids(status="blocked") == [cs[1].id]
    assert cs[1].id not in await ids(status="active")
    assert await ids(search="C02@EXAMPLE") == [cs[2].id]
    assert await ids(search="801234") == [cs[1].id]
    assert await ids(search="100%") == []
    assert await ids(created_at_after="2024-01-02", created_at_before="2024-01-03") == [cs[2].id, cs[1].id]
    assert await ids(orders_count=2) == [cs[2].id]
    assert await ids(balance="75.50") == [cs[2].id]
    assert (await ids(ordering="-balance"))[0] == cs[2].id
    assert (await ids(ordering="name"))[1:3] == [cs[0].id, cs[1].id]  # "Boss" (the admin) first
    assert (await ids(ordering="-name"))[0] == cs[3].id
    assert (await ids(ordering="-orders_count"))[:2] == [cs[2].id, cs[3].id]
    row = next(r for r in (await api.get("/api/customers/", user=admin)).json()["results"] if r["id"] == cs[3].id)
    assert row["orders_count"] == 1 and row["balance"] == "0.00"
    for bad in ({"status": "gone"}, {"ordering": "email"}, {"created_at_after": "yesterday"}, {"page_size": "x"}):
        assert_envelope(await api.get("/api/customers/", params=bad, user=admin), 400)


@pytest.mark.gen_test
async def test_customers_are_admin_only(api, make_user):
    user = await make_user()
    assert_envelope(await api.get("/api/customers/"), 401)
    assert_envelope(await api.get("/api/customers/", user=user), 403)
    assert_envelope(await api.post("/api/customers/bulk_action/", json={}, user=user), 403)


@pytest.mark.gen_test
async def test_create_without_account_with_phone_and_address(api, admin):
    resp = await api.post("/api/customers/", json={
        "name": "Jane Smith", "email": "Jane@Example.com", "country_code": "+234",
        "local_phone_number": "8123456789",
        "address": {"full_name": "Jane Smith", "email": "jane@example.com", "phone_number": "+2348123456789",
                    "street_address": "123 Main Street", "city": "Lagos", "state": "Lagos",
                    "country": "Nigeria", "zip_code": "100001", "is_default": True}}, user=admin)
    assert resp.status == 201, resp
    body = resp.json()
    assert body["email"] == "jane@example.com" and body["phone"] == "+2348123456789"
    assert body["country_code"] == "+234" and body["local_phone_number"] == "8123456789"
    assert body["status"] == "active" and body["orders_count"] == 0 and body["balance"] == "0.00"
    assert body["recent_orders"] == [] and body["user_id"] is None
    assert body["default_address"]["city"] == "Lagos" and body["default_address"]["zip_code"] == "100001"
    assert not await User.select().where(User.email == "jane@example.com").aio_exists()


@pytest.mark.gen_test
async def test_create_with_user_account_who_can_log_in(api, admin):
    resp = await api.post("/api/customers/add_customer/", json={
        "name": "John Doe", "email": "john@example.com", "create_user_account": True,
        "password": "securepassword123",
        "address": {"full_name": "John Doe", "email": "john@example.com", "street_address": "1 Oak St",
                    "city": "Anytown", "state": "CA", "country": "USA", "zip_code": "90210"}}, user=admin)
    assert resp.status == 201, resp
    body = resp.json()
    assert body["user_id"] and body["default_address"]["street_address"] == "1 Oak St"
    result = await login("john@example.com", "securepassword123")
    assert result["user"]["email"] == "john@example.com"


@pytest.mark.gen_test
async def test_create_validation_errors(api, admin, make_user):
    await make_user(email="taken@example.com")
    body = assert_envelope(await api.post("/api/customers/", json={}, user=admin), 400, "Validation error")
    assert body["errors"]["name"] == ["This field is required."] and "email" in body["errors"]
    body = assert_envelope(await api.post("/api/customers/", json={
        "name": "X", "email": "taken@example.com", "country_code": "+1"}, user=admin), 400)
    assert body["errors"]["email"] == ["customer with this email already exists."]
    assert body["errors"]["local_phone_number"] == ["Phone number is required when country code is provided."]
    body = assert_envelope(await api.post("/api/customers/", json={
        "name": "X", "email": "x@example.com", "create_user_account": True}, user=admin), 400)
    assert "password" in body["errors"]
    body = assert_envelope(await api.post("/api/customers/", json={
        "name": "X", "email": "x@example.com", "country_code": "+234", "local_phone_number": "12"}, user=admin), 400)
    assert body["errors"]["local_phone_number"] == ["Invalid phone number format"]
    assert await Customer.select().aio_count() == 2  # admin + taken: nothing created


@pytest.mark.gen_test
async def test_detail_has_address_last_login_photo_and_recent_orders(api, admin, make_user):
    user = await make_user(email="linda@example.com", full_name="Linda Blair",
                           last_login=dt.datetime(2024, 6, 4, 12, 0))
    c = await customer_of(user)
    from models.accounts import addresses

    await addresses.create_address(user, {"full_name": "Linda", "email": "linda@example.com",
                                          "phone_number": "", "street_address": "1833 Bel Meadow Drive",
                                          "city": "Fontana", "state": "California", "country": "USA",
                                          "zip_code": "92335"})
    for i in range(7):
        await make_order(c, total="10.00", created_at=dt.datetime(2024, 1, 1 + i), payment_status="PAID")
    resp = await api.get(f"/api/customers/{c.id}/", user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["user_details"] == {"last_login": "2024-06-04T12:00:00Z", "profile_photo_url": None}
    assert body["default_address"]["city"] == "Fontana"
    assert len(body["recent_orders"]) == 5 and body["recent_orders"][0]["created_at"] == "2024-01-07T00:00:00Z"
    assert body["recent_orders"][0]["total"] == "10.00" and body["recent_orders"][0]["order_number"].startswith("ORD-")
    assert body["last_transaction_date"] == "2024-01-07"
    assert body["orders_count"] == 7 and body["balance"] == "70.00"
    assert_envelope(await api.get("/api/customers/99999/", user=admin), 404, "Customer not found")


@pytest.mark.gen_test
async def test_statistics(api, admin, make_user):
    c = await customer_of(await make_user())
    await make_order(c, total="100.00", status="DELIVERED", payment_status="PAID")
    await make_order(c, total="50.00", status="PENDING")  # not paid: not spent
    await make_order(c, total="70.00", status="CANCELLED")
    await make_order(c, total="30.00", status="DELIVERED", payment_status="REFUNDED")  # all of it given back
    await make_order(c, total="40.00", status="DELIVERED", payment_status="PARTIALLY_REFUNDED", refunded="10.00")
    await make_order(c, total="9.99", created_at=dt.datetime(2020, 1, 1), payment_status="PAID")
    resp = await api.get(f"/api/customers/{c.id}/statistics/", user=admin)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["total_orders"] == 6 and body["monthly_orders"] == 5
    # Paid orders (100, 30 refunded, 40 of which 10 refunded, 9.99): 139.99 kept over 4.
    assert body["total_spent"] == "139.99" and body["avg_order_value"] == "35.00"
    assert body["order_status_counts"] == {"pending": 2, "processing": 0, "partially_shipped": 0, "shipped": 0, "completed": 3,
                                           "cancelled": 1, "returned": 0, "damaged": 0, "refunded": 0}
    assert body["abandoned_carts_count"] == 0 and len(body["recent_orders"]) == 5  # the newest five
    assert_envelope(await api.get("/api/customers/424242/statistics/", user=admin), 404)


@pytest.mark.gen_test
async def test_transaction_history(api, admin, make_user, count_queries):
    c = await customer_of(await make_user())
    other = await customer_of(await make_user())
    await make_order(other)
    await make_order(c, total="121.00", status="PROCESSING", created_at=dt.datetime(2023, 12, 12),
                     items=[("Handmade Pouch", 1, "100.00"), ("Cup", 1, "7"), ("Pen", 1, "7"), ("Bag", 1, "7")])
    await make_order(c, total="590.00", status="DELIVERED", created_at=dt.datetime(2023, 12, 1),
                     items=[("Smartwatch E2", 1, "500"), ("Strap", 1, "90")])
    with count_queries() as q:
        resp = await api.get(f"/api/customers/{c.id}/transactions/", user=admin)
    assert resp.status == 200, resp
    assert len(q) == 3
    body = resp.json()
    assert body["count"] == 2
    assert [r["products_display_string"] for r in body["results"]] == [
        "Handmade Pouch +3 other products", "Smartwatch E2 +1 other product"]
    assert body["results"][0]["total"] == "121.00" and body["results"][0]["status_display"] == "Processing"
    only = (await api.get(f"/api/customers/{c.id}/transactions/", params={"status": "DELIVERED"}, user=admin)).json()
    assert [r["total"] for r in only["results"]] == ["590.00"]
    dated = (await api.get(f"/api/customers/{c.id}/transactions/",
                           params={"created_at_after": "2023-12-05"}, user=admin)).json()
    assert dated["count"] == 1
    assert_envelope(await api.get("/api/customers/9999/transactions/", user=admin), 404)


@pytest.mark.gen_test
async def test_put_and_patch(api, admin, make_user):
    c = await customer_of(await make_user(email="john@example.com"))
    resp = await api.patch(f"/api/customers/{c.id}/", json={"name": "John B.", "country_code": "+1",
                                                            "local_phone_number": "2015550123"}, user=admin)
    assert resp.status == 200, resp
    assert resp.json()["name"] == "John B." and resp.json()["phone"] == "+12015550123"
    resp = await api.patch(f"/api/customers/{c.id}/", json={"phone": "+2348012345680"}, user=admin)
    assert resp.json()["phone"] == "+2348012345680"
    resp = await api.put(f"/api/customers/{c.id}/", json={"name": "John Smith", "email": "js@example.com"},
                         user=admin)
    assert resp.status == 200 and resp.json()["email"] == "js@example.com"
    body = assert_envelope(await api.put(f"/api/customers/{c.id}/", json={"name": "x"}, user=admin), 400)
    assert body["errors"] == {"email": ["This field is required."]}
    body = assert_envelope(await api.patch(f"/api/customers/{c.id}/", json={"email": "admin@example.com"},
                                           user=admin), 400)
    assert body["errors"]["email"] == ["customer with this email already exists."]
    assert_envelope(await api.patch("/api/customers/9999/", json={"name": "x"}, user=admin), 404)


@pytest.mark.gen_test
async def test_blocking_stops_login_and_existing_tokens_at_once(api, admin, make_user):
    user = await make_user(email="bad@example.com", password="password123")
    pair = await login("bad@example.com", "password123")
    assert (await api.get("/api/help/", token=pair["access_token"])).status == 200
    c = await customer_of(user)
    resp = await api.patch(f"/api/customers/{c.id}/", json={"status": "blocked"}, user=admin)
    assert resp.status == 200 and resp.json()["status"] == "blocked"
    assert_envelope(await api.get("/api/help/", token=pair["access_token"]), 401)
    assert_envelope(await api.post("/api/auth/token/refresh/", json={"refresh_token": pair["refresh_token"]}), 401)
    assert_envelope(await api.post("/api/auth/login/", json={"email": "bad@example.com", "password": "password123"}),
                    403)
    assert not await RefreshToken.select().where(RefreshToken.revoked_at.is_null()).aio_exists()
    # Unblocking does not bring the old tokens back: their sessions ended.
    resp = await api.post("/api/customers/bulk_action/", json={"action": "update_status", "status": "active",
                                                              "customer_ids": [c.id]}, user=admin)
    assert resp.json()["affected"] == 1
    assert_envelope(await api.get("/api/help/", token=pair["access_token"]), 401)
    assert (await api.post("/api/auth/login/", json={"email": "bad@example.com",
                                                     "password": "password123"})).status == 200


@pytest.mark.gen_test
async def test_bulk_block_ends_sessions(api, admin, make_user):
    user = await make_user(email="bulk@example.com", password="password123")
    pair = await login("bulk@example.com", "password123")
    c = await customer_of(user)
    resp = await api.post("/api/customers/bulk_action/", json={"action": "update_status", "status": "blocked",
                                                              "customer_ids": [c.id]}, user=admin)
    assert resp.json()["affected"] == 1
    await Customer.update(status="active").where(Customer.id == c.id).aio_execute()
    assert_envelope(await api.get("/api/help/", token=pair["access_token"]), 401)


@pytest.mark.gen_test
async def test_admin_cannot_block_or_delete_themselves(api, admin):
    me = await customer_of(admin)
    assert_envelope(await api.patch(f"/api/customers/{me.id}/", json={"status": "blocked"}, user=admin), 400)
    assert_envelope(await api.delete(f"/api/customers/{me.id}/", user=admin), 400)
    for body in ({"action": "delete", "customer_ids": [me.id]},
                 {"action": "update_status", "status": "blocked", "customer_ids": [me.id]}):
        assert_envelope(await api.post("/api/customers/bulk_action/", json=body, user=admin), 400)
    resp = await api.post("/api/customers/bulk_action/", json={"action": "update_status", "status": "blocked",
                                                              "select_all": True}, user=admin)
    assert resp.json() == {"status": "success", "affected": 0}
    assert (await Customer.aio_get(Customer.id == me.id)).status == "active"


@pytest.mark.gen_test
async def test_delete_removes_the_user_too(api, admin, make_user):
    user = await make_user()
    c = await customer_of(user)
    order = await make_order(c)
    resp = await api.delete(f"/api/customers/{c.id}/", user=admin)
    assert resp.status == 204 and resp.body == b""
    assert not await User.select().where(User.id == user.id).aio_exists()
    assert not await Customer.select().where(Customer.id == c.id).aio_exists()
    from models.orders.tables import Order

    assert (await Order.aio_get(Order.id == order.id)).customer_id is None  # the order stays
    assert_envelope(await api.delete(f"/api/customers/{c.id}/", user=admin), 404)


@pytest.mark.gen_test
async def test_bulk_actions(api, admin, make_user):
    cs = await make_customers(make_user, 5)
    url = "/api/customers/bulk_action/"
    resp = await api.post(url, json={"action": "update_status", "status": "blocked",
                                     "customer_ids": [cs[0].id, cs[1].id]}, user=admin)
    assert resp.status == 200 and resp.json() == {"status": "success", "affected": 2}
    body = assert_envelope(await api.post(url, json={"action": "update_status", "customer_ids": [cs[0].id],
                                                     "status": "gone"}, user=admin), 400, "Invalid status")
    assert body["error"] == "Invalid status"
    body = assert_envelope(await api.post(url, json={"action": "delete", "customer_ids": []}, user=admin), 400,
                           "No customers selected")
    assert body["error"] == "No customers selected"
    assert_envelope(await api.post(url, json={"action": "explode", "customer_ids": [1]}, user=admin), 400)
    # select_all honours the query's filters and exclude_ids, and never touches the acting admin.
    resp = await api.post(url, params={"status": "active"},
                          json={"action": "delete", "select_all": True, "exclude_ids": [cs[4].id]}, user=admin)
    assert resp.json()["affected"] == 2
    left = {c.id for c in await Customer.select().aio_execute()}
    assert left == {cs[0].id, cs[1].id, cs[4].id, (await customer_of(admin)).id}
    assert await User.select().aio_count() == 4


@pytest.mark.gen_test
async def test_export_streams_filtered_csv(api, admin, make_user):
    cs = await make_customers(make_user, 2)
    await make_order(cs[0], total="12091.00", status="DELIVERED", payment_status="PAID")
    await Customer.update(phone="+1234567890").where(Customer.id == cs[0].id).aio_execute()
    resp = await api.get("/api/customers/export/", params={"search": "c0"}, user=admin)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.body.decode())))
    assert rows[0] == ["ID", "Name", "Email", "Phone", "Status", "Orders", "Total Balance", "Created"]
    assert sorted(rows[1:]) == sorted([
        [str(cs[0].id), "Customer 00", "c00@example.com", "'+1234567890", "Active", "1", "$12091.00", "2024-01-01"],
        [str(cs[1].id), "Customer 01", "c01@example.com", "", "Active", "0", "$0.00", "2024-01-02"]])
    assert_envelope(await api.get("/api/customers/export/", params={"status": "x"}, user=admin), 400)


@pytest.mark.gen_test(timeout=60)
async def test_async_export_through_the_worker(api, admin, make_user, celery_worker):
    import asyncio

    await make_customers(make_user, 3)
    resp = await api.get("/api/customers/export/", params={"async": "1"}, user=admin)
    assert resp.status == 202, resp
    status_url = resp.json()["status_url"]
    path = status_url.split("//", 1)[1].split("/", 1)[1]
    for _ in range(200):
        job = (await api.get("/" + path, user=admin)).json()
        if job["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done" and job["row_count"] == 4 and job["kind"] == "customers"
