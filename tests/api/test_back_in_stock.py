"""Back in stock and price drops: database triggers write one notification per
waiting user and queue one email each through the outbox, whatever changes
the stock; restocking what is in stock writes nothing; a cooldown per user
and product; stock given back by an unpaid order of the last hour is no
restock."""
from __future__ import annotations

import pytest

from models.catalog.tables import Product, ProductVariation
from models.core.db import fetch_all
from models.wishlist import StockNotification
from tests.support.factories import product, variation
from tests.support.mail import mail_body, wait_for_mail


async def wishlist(api, user, product_id):
    resp = await api.post("/api/wishlist-items/", json={"product": product_id}, user=user)
    assert resp.status == 201, resp


async def notifications(kind=None):
    query = StockNotification.select().order_by(StockNotification.id)
    if kind:
        query = query.where(StockNotification.notification_type == kind)
    return list(await query.aio_execute())


async def outbox_rows():
    return await fetch_all("SELECT task, args FROM outbox_job WHERE task = 'tasks.wishlist.send_stock_notification' "
                           "ORDER BY created_at")


@pytest.mark.gen_test(timeout=120)
async def test_admin_restock_notifies_each_waiting_user_once_and_emails_them(api, make_user, celery_worker):
    admin = await make_user(is_staff=True)
    ada, bo, other = (await make_user(email="ada@example.com", full_name="Ada"),
                      await make_user(email="bo@example.com"), await make_user())
    pid = await product("Oak Chair", stock=1, base_price="99.99")
    await wishlist(api, ada, pid)
    await wishlist(api, bo, pid)
    await wishlist(api, other, await product("Unrelated"))
    await Product.update(stock_quantity=0).where(Product.id == pid).aio_execute()  # sold out
    assert await notifications() == []
    resp = await api.patch(f"/api/products/{pid}/", json={"stock_quantity": 7}, user=admin)
    assert resp.status == 200, resp
    found = await notifications()
    assert sorted(n.user_id for n in found) == sorted([ada.id, bo.id])
    assert {n.notification_type for n in found} == {"BACK_IN_STOCK"}
    assert found[0].message == "Oak Chair is back in stock!"
    assert len(await outbox_rows()) == 2
    mails = await wait_for_mail(2, timeout=60)
    assert sorted(m["To"] for m in mails) == ["ada@example.com", "bo@example.com"]
    ada_mail = next(m for m in mails if m["To"] == "ada@example.com")
    assert ada_mail["Subject"] == "Back in stock: Oak Chair"
    assert f"http://shop.test/products/{pid}" in mail_body(ada_mail)
    listing = (await api.get("/api/wishlist/stock-notifications/", user=ada)).json()
    assert [n["notification_type"] for n in listing] == ["BACK_IN_STOCK"]
    # Restocking what is in stock: nothing more.
    await api.patch(f"/api/products/{pid}/", json={"stock_quantity": 20}, user=admin)
    await Product.update(stock_quantity=Product.stock_quantity + 5).where(Product.id == pid).aio_execute()
    assert len(await notifications()) == 2 and len(await outbox_rows()) == 2


@pytest.mark.gen_test
async def test_every_restock_counts_once_whatever_writes_the_stock(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=0)
    await wishlist(api, user, pid)
    for _ in range(3):  # a sell-out and a restock, three times, by plain SQL
        await fetch_all("UPDATE product SET stock_quantity = stock_quantity + 2 WHERE id = %s RETURNING id", (pid,))
        await fetch_all("UPDATE product SET stock_quantity = 0 WHERE id = %s RETURNING id", (pid,))
    # One notice: the others fell within the cooldown (stock_notification_cooldown()).
    assert len(await notifications("BACK_IN_STOCK")) == 1
    assert len(await outbox_rows()) == 1
    await fetch_all("UPDATE stock_notification SET created_at = created_at - interval '25 hours' RETURNING id")
    await fetch_all("UPDATE product SET stock_quantity = 1 WHERE id = %s RETURNING id", (pid,))
    assert len(await notifications("BACK_IN_STOCK")) == 2


@pytest.mark.gen_test
async def test_variation_restock_and_unpublished_products(api, make_user):
    user = await make_user()
    pid = await product("Sofa", stock=4)
    red = await variation(pid, "Red", stock=0)
    await wishlist(api, user, pid)
    await ProductVariation.update(stock_quantity=3).where(ProductVariation.id == red).aio_execute()
    [note] = await notifications()
    assert note.variation_id == red and note.message == "Sofa (Red) is back in stock!"
    draft = await product("Hidden", stock=1)
    await wishlist(api, user, draft)
    await Product.update(stock_quantity=0, status="draft").where(Product.id == draft).aio_execute()
    await Product.update(stock_quantity=5).where(Product.id == draft).aio_execute()
    assert len(await notifications()) == 1  # a draft coming back in stock tells nobody


@pytest.mark.gen_test
async def test_price_drop_notifies_and_a_rise_does_not(api, make_user):
    admin, user = await make_user(is_staff=True), await make_user()
    pid = await product("Desk", base_price="200.00")
    await wishlist(api, user, pid)
    await api.patch(f"/api/products/{pid}/", json={"base_price": "250.00"}, user=admin)
    assert await notifications() == []
    await api.patch(f"/api/products/{pid}/", json={"discount_type": "percentage", "discount_percentage": "20"},
                    user=admin)
    [note] = await notifications("PRICE_DROP")
    assert note.old_price == 250 and note.new_price == 200
    assert note.message == "Desk is now 200.00 (was 250.00)"
    rows = await outbox_rows()
    assert rows and rows[-1][1] == [note.id]


@pytest.mark.gen_test
async def test_cancelling_unpaid_orders_does_not_spam_waiting_users(api, make_user):
    """A PayPal checkout failing (or an order cancelled) five times in a row
    re-sent back-in-stock emails to every waiting user each time."""
    from tests.support.client import post_order

    waiting = [await make_user() for _ in range(3)]
    buyer = await make_user()
    pid = await product("Last Sofa", stock=1)
    for user in waiting:
        await wishlist(api, user, pid)
    for _ in range(5):
        order_id = (await post_order(api, buyer, [{"product_id": pid, "quantity": 1}])).json()["order_id"]
        assert (await api.post(f"/api/orders/{order_id}/cancel/", user=buyer)).status == 200
    # And an unpaid order that expires.
    import datetime as dt

    from models.core.db import utcnow
    from models.orders import actions

    await post_order(api, buyer, [{"product_id": pid, "quantity": 1}])
    assert len(await actions.expire_unpaid_orders(utcnow() + dt.timedelta(hours=1))) == 1
    assert len(await notifications("BACK_IN_STOCK")) == 0
    assert len(await outbox_rows()) == 0
    # A real restock (staff) still tells each of them once.
    await fetch_all("UPDATE product SET stock_quantity = 0 WHERE id = %s RETURNING id", (pid,))
    await fetch_all("UPDATE product SET stock_quantity = 4 WHERE id = %s RETURNING id", (pid,))
    assert len(await notifications("BACK_IN_STOCK")) == 3
