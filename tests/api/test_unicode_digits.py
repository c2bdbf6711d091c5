"""Text that str.isdigit() calls digits but int() refuses ("²", "١٢") is a clear
answer, never a 500: ids and timestamps must be ASCII digits."""
from __future__ import annotations

import pytest

import settings
from tests.support.client import assert_envelope


@pytest.mark.gen_test
async def test_superscript_category_filters_match_nothing(api, make_user):
    admin = await make_user(is_staff=True)
    resp = await api.get("/api/dashboard/product_management_data/", params={"category": "²"}, user=admin)
    assert resp.status == 200, resp
    resp = await api.get("/api/products/export/", params={"category": "²"}, user=admin)
    assert resp.status == 200, resp


@pytest.mark.gen_test
async def test_superscript_ids_in_an_order_export_are_400(api, make_user):
    admin = await make_user(is_staff=True)
    assert_envelope(await api.get("/api/orders/export/", params={"user_id": "²"}, user=admin), 400)


@pytest.mark.gen_test
async def test_clover_signature_with_a_superscript_timestamp_is_refused(api, monkeypatch):
    monkeypatch.setattr(settings, "CLOVER_WEBHOOK_SECRET", "clover-secret")
    resp = await api.post("/api/webhooks/clover/", body=b"{}", headers={"Clover-Signature": "t=\u00b2,v1=abc",
                                                                        "Content-Type": "application/json"})
    assert_envelope(resp, 400)
