"""Shipping methods: public list/detail, staff CRUD, delivery dates in business days."""
from __future__ import annotations

import datetime as dt

import pytest

from models.shipping import delivery_date
from tests.support.client import assert_envelope

METHOD = {"name": "Express Shipping", "price": "10.00", "estimated_days": 2,
          "description": "Delivery within 1-3 business days"}
FIELDS = {"id", "name", "price", "estimated_days", "description", "delivery_date", "is_active", "handles_bulky"}


def test_delivery_date_counts_business_days():
    friday = dt.datetime(2024, 1, 19, 10, 30)
    assert delivery_date(1, friday) == dt.datetime(2024, 1, 22, 10, 30)  # Monday
    assert delivery_date(5, friday) == dt.datetime(2024, 1, 26, 10, 30)
    assert delivery_date(0, friday) == friday
    saturday = dt.datetime(2024, 1, 20, 9, 0)
    assert delivery_date(1, saturday) == dt.datetime(2024, 1, 22, 9, 0)
    monday = dt.datetime(2024, 1, 15, 8, 0)
    assert delivery_date(3, monday) == dt.datetime(2024, 1, 18, 8, 0)
    assert delivery_date(10, monday) == dt.datetime(2024, 1, 29, 8, 0)


@pytest.mark.gen_test
async def test_shipping_method_crud_and_public_reads(api, make_user):
    admin, shopper = await make_user(is_staff=True), await make_user()
    assert_envelope(await api.post("/api/shipping-methods/", json=METHOD, user=shopper), 403)
    assert_envelope(await api.post("/api/shipping-methods/", json=METHOD), 401)
    resp = await api.post("/api/shipping-methods/", json=METHOD, user=admin)
    assert resp.status == 201, resp
    body = resp.json()
    assert set(body) == FIELDS and body["price"] == "10.00" and body["estimated_days"] == 2
    assert body["delivery_date"].endswith("Z")
    mid = body["id"]
    cheap = (await api.post("/api/shipping-methods/", json={**METHOD, "name": "Standard", "price": "4.99",
                                                           "estimated_days": 5}, user=admin)).json()
    listing = (await api.get("/api/shipping-methods/")).json()
    assert [m["id"] for m in listing] == [cheap["id"], mid]  # cheapest first
    assert (await api.get(f"/api/shipping-methods/{mid}/")).json()["name"] == "Express Shipping"
    patched = await api.patch(f"/api/shipping-methods/{mid}/", json={"price": "5.99"}, user=admin)
    assert patched.status == 200 and patched.json()["price"] == "5.99" and patched.json()["estimated_days"] == 2
    assert_envelope(await api.patch(f"/api/shipping-methods/{mid}/", json={"price": "1"}, user=shopper), 403)
    put = await api.put(f"/api/shipping-methods/{mid}/", json={**METHOD, "is_active": False}, user=admin)
    assert put.status == 200 and put.json()["is_active"] is False
    assert [m["id"] for m in (await api.get("/api/shipping-methods/")).json()] == [cheap["id"]]
    assert_envelope(await api.get(f"/api/shipping-methods/{mid}/"), 404, "Shipping method not found")
    assert len((await api.get("/api/shipping-methods/", user=admin)).json()) == 2
    assert (await api.delete(f"/api/shipping-methods/{mid}/", user=admin)).status == 204
    assert_envelope(await api.get(f"/api/shipping-methods/{mid}/", user=admin), 404)
    assert_envelope(await api.get("/api/shipping-methods/99999/"), 404, "Shipping method not found")


@pytest.mark.gen_test
async def test_shipping_method_validation(api, make_user):
    admin = await make_user(is_staff=True)
    for change, field in [({"price": "-1"}, "price"), ({"price": "x"}, "price"), ({"estimated_days": -2},
                                                                                  "estimated_days"),
                          ({"name": ""}, "name"), ({"estimated_days": "soon"}, "estimated_days")]:
        body = assert_envelope(await api.post("/api/shipping-methods/", json={**METHOD, **change}, user=admin), 400)
        assert field in body["errors"], (change, body)
    assert "name" in assert_envelope(await api.post("/api/shipping-methods/", json={}, user=admin), 400)["errors"]
