"""Order emails through the real Celery worker: the customer's confirmation,
the staff notice, status changes and tracking events."""
from __future__ import annotations

import pytest

import settings
from tests.support.client import post_order
from tests.support.factories import product
from tests.support.mail import mail_body, wait_for_mail


@pytest.mark.gen_test(timeout=90)
async def test_order_confirmation_admin_notice_status_and_tracking(celery_worker, api, make_user):
    admin = await make_user(is_staff=True, email="boss@example.com")
    user = await make_user(full_name="Ada Buyer", email="ada@example.com")
    pid = await product("Handmade Pouch", stock=5, base_price="20.00")
    oid = (await post_order(api, user, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
    assert settings.ADMIN_NOTIFICATION_EMAILS == ["staff@avantlush.test"]  # tests/conftest.py
    mails = await wait_for_mail(2)
    confirmation = next(m for m in mails if m["To"] == "ada@example.com")
    notice = next(m for m in mails if m["To"] == "staff@avantlush.test")
    assert "New order ORD-" in notice["Subject"] and "ada@example.com" in mail_body(notice)
    assert "ORD-" in confirmation["Subject"] and "Handmade Pouch" in mail_body(confirmation)
    n = len(mails)
    assert (await api.patch(f"/api/orders/{oid}/update_status/", json={"status": "PROCESSING"}, user=admin)).status == 200
    mails = await wait_for_mail(n + 1)
    assert any("Processing" in m["Subject"] for m in mails)
    await api.post(f"/api/orders/{oid}/tracking/add/", json={"status": "SHIPPED", "location": "Lagos Hub"}, user=admin)
    mails = await wait_for_mail(n + 2)
    assert any("Lagos Hub" in mail_body(m) for m in mails)
