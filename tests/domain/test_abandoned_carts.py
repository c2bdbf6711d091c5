"""Abandoned carts: marking, at most two reminders 24 h apart, none after an
order, recovered orders recorded, the restore link, the reminder email."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models.cart import AbandonedCart, add_item, clear_cart, load_cart, mark_cart_converted, process_abandoned_carts
from models.core.db import utcnow
from tests.support.factories import product
from tests.support.mail import mail_body, wait_for_mail

H = dt.timedelta(hours=1)


async def cart_with_items(user):
    pid = await product("Sofa", base_price="300.00", stock=5)
    await add_item(user.id, pid, 2)
    return pid


@pytest.mark.gen_test
async def test_idle_cart_is_marked_and_reminded_at_most_twice_24h_apart(make_user):
    user = await make_user()
    await cart_with_items(user)
    now = utcnow()
    assert await process_abandoned_carts(now + 23 * H) == {"closed": 0, "abandoned": 0, "reminders": 0}
    assert await process_abandoned_carts(now + 25 * H) == {"closed": 0, "abandoned": 1, "reminders": 1}
    assert await process_abandoned_carts(now + 26 * H) == {"closed": 0, "abandoned": 0, "reminders": 0}
    assert (await process_abandoned_carts(now + 49 * H + H))["reminders"] == 1
    assert (await process_abandoned_carts(now + 100 * H))["reminders"] == 0
    [episode] = list(await AbandonedCart.select().aio_execute())
    assert episode.reminders_sent == 2 and episode.subtotal == 600 and episode.closed_at is None
    assert episode.items[0]["quantity"] == 2 and len(episode.token) == 64


@pytest.mark.gen_test
async def test_no_reminder_once_an_order_follows_and_the_order_is_recorded(make_user):
    user = await make_user()
    await cart_with_items(user)
    now = utcnow()
    await process_abandoned_carts(now + 25 * H)
    await clear_cart(user.id)
    assert await mark_cart_converted(user.id, 4242) is True
    assert (await process_abandoned_carts(now + 50 * H))["reminders"] == 0
    [episode] = list(await AbandonedCart.select().aio_execute())
    assert episode.order_id == 4242 and episode.recovered_at is not None and episode.closed_at is not None


@pytest.mark.gen_test
async def test_order_before_any_reminder_is_not_counted_as_recovered(make_user):
    user = await make_user()
    await cart_with_items(user)
    assert await mark_cart_converted(user.id, 1) is False  # no episode at all
    assert await AbandonedCart.select().aio_count() == 0


@pytest.mark.gen_test
async def test_emptied_cart_closes_its_episode(make_user):
    idle = await make_user()
    await cart_with_items(idle)
    now = utcnow()
    await process_abandoned_carts(now + 25 * H)
    await clear_cart(idle.id)
    result = await process_abandoned_carts(now + 25 * H + dt.timedelta(minutes=1))
    assert result["closed"] == 1 and result["reminders"] == 0


@pytest.mark.gen_test
async def test_blocked_or_inactive_users_get_no_reminder(make_user):
    user = await make_user(is_active=False)
    await cart_with_items(user)
    assert (await process_abandoned_carts(utcnow() + 25 * H))["abandoned"] == 0


@pytest.mark.gen_test
async def test_restore_link_puts_the_items_back(api, make_user, http_client, base_url):
    user = await make_user()
    pid = await cart_with_items(user)
    await process_abandoned_carts(utcnow() + 25 * H)
    episode = await AbandonedCart.aio_get()
    await clear_cart(user.id)
    await add_item(user.id, pid, 1)
    # A mail scanner's GET of an old API link only goes on to the storefront's page: nothing restored.
    resp = await http_client.fetch(f"{base_url}/api/cart/restore/{episode.token}/", follow_redirects=False,
                                   raise_error=False)
    assert resp.code == 302 and resp.headers["Location"] == f"http://shop.test/cart/restore?token={episode.token}"
    assert [(x.product_id, x.quantity) for x in (await load_cart(user.id)).lines] == [(pid, 1)]
    assert (await AbandonedCart.aio_get()).restored_at is None
    # The storefront's page POSTs the token.
    post = await api.post(f"/api/cart/restore/{episode.token}/")
    assert post.status == 200 and post.json()["message"] == "Cart restored"
    cart = await load_cart(user.id)
    assert [(x.product_id, x.quantity) for x in cart.lines] == [(pid, 2)]
    assert (await AbandonedCart.aio_get()).restored_at is not None
    bad = await api.post("/api/cart/restore/nope/")
    assert bad.status == 404


@pytest.mark.gen_test(timeout=90)
async def test_reminder_email_arrives_with_the_restore_link(make_user, celery_worker):
    user = await make_user(email="ada@example.com", full_name="Ada Obi")
    await cart_with_items(user)
    await process_abandoned_carts(utcnow() + 25 * H)
    [msg] = await wait_for_mail(1, timeout=60)
    assert msg["To"] == "ada@example.com" and msg["Subject"] == "You left something in your cart"
    body = mail_body(msg)
    token = (await AbandonedCart.aio_get()).token
    assert f"http://shop.test/cart/restore?token={token}" in body and "Sofa x 2: 300.00" in body and "Hi Ada Obi" in body
    assert re.search(r"Subtotal: 600\.00", body)
