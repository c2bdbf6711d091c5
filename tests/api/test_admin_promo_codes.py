"""Promo codes at /api/promo-codes/: staff CRUD, validation, case-insensitive codes."""
from __future__ import annotations

import pytest

from tests.support.client import assert_envelope

CODE = {"code": "Summer20", "discount_percentage": "20", "valid_from": "2024-01-01T00:00:00Z",
        "valid_to": "2099-12-31T23:59:59+01:00", "min_order_amount": "50", "usage_limit": 100}
FIELDS = {"id", "code", "discount_percentage", "valid_from", "valid_to", "min_order_amount", "usage_limit",
          "times_used", "is_active", "created_at", "updated_at",
          # issue 22: promotions
          "name", "discount_type", "discount_amount", "automatic", "per_customer_limit", "category_ids",
          "product_ids", "include_subcategories"}


@pytest.mark.gen_test
async def test_only_staff_manage_promo_codes(api, make_user):
    shopper = await make_user()
    assert_envelope(await api.get("/api/promo-codes/"), 401)
    assert_envelope(await api.get("/api/promo-codes/", user=shopper), 403)
    assert_envelope(await api.post("/api/promo-codes/", json=CODE, user=shopper), 403)


@pytest.mark.gen_test
async def test_promo_code_crud(api, make_user):
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/promo-codes/", json=CODE, user=admin)
    assert resp.status == 201, resp
    body = resp.json()
    assert set(body) == FIELDS
    assert body["code"] == "SUMMER20" and body["discount_percentage"] == "20.00"
    assert body["valid_from"] == "2024-01-01T00:00:00Z" and body["valid_to"] == "2099-12-31T22:59:59Z"
    assert body["min_order_amount"] == "50.00" and body["usage_limit"] == 100 and body["times_used"] == 0
    assert body["is_active"] is True
    pid = body["id"]
    assert [p["id"] for p in (await api.get("/api/promo-codes/", user=admin)).json()] == [pid]
    assert (await api.get(f"/api/promo-codes/{pid}/", user=admin)).json()["code"] == "SUMMER20"
    patched = (await api.patch(f"/api/promo-codes/{pid}/", json={"is_active": False, "usage_limit": None},
                               user=admin)).json()
    assert patched["is_active"] is False and patched["usage_limit"] is None and patched["min_order_amount"] == "50.00"
    put = await api.put(f"/api/promo-codes/{pid}/", json={"code": "winter", "discount_percentage": "5.5"}, user=admin)
    assert put.status == 200 and put.json()["code"] == "WINTER" and put.json()["discount_percentage"] == "5.50"
    assert (await api.delete(f"/api/promo-codes/{pid}/", user=admin)).status == 204
    assert_envelope(await api.get(f"/api/promo-codes/{pid}/", user=admin), 404, "Promo code not found")
    assert_envelope(await api.delete(f"/api/promo-codes/{pid}/", user=admin), 404)


@pytest.mark.gen_test
async def test_promo_code_validation(api, make_user):
    admin = await make_user(is_staff=True)
    assert (await api.post("/api/promo-codes/", json=CODE, user=admin)).status == 201
    body = assert_envelope(await api.post("/api/promo-codes/", json={**CODE, "code": "summer20"}, user=admin), 400)
    assert body["errors"] == {"code": ["Promo code with this code already exists."]}
    bad = [({"discount_percentage": "0"}, "discount_percentage"), ({"discount_percentage": "100.5"},
                                                                     "discount_percentage"),
           ({"discount_percentage": "abc"}, "discount_percentage"), ({"code": ""}, "code"),
           ({"code": "has space"}, "code"), ({"min_order_amount": "-1"}, "min_order_amount"),
           ({"usage_limit": -1}, "usage_limit"), ({"valid_from": "yesterday"}, "valid_from"),
           ({"valid_from": "2030-01-01T00:00:00Z", "valid_to": "2029-01-01T00:00:00Z"}, "valid_to")]
    for change, field in bad:
        body = assert_envelope(await api.post("/api/promo-codes/", json={**CODE, "code": "NEW1", **change},
                                              user=admin), 400)
        assert field in body["errors"], (change, body)
    assert_envelope(await api.post("/api/promo-codes/", json={"code": "X"}, user=admin), 400)
