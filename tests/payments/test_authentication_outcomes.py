"""3-D Secure loose ends (after issue 20), end to end over the API with the
test gateway and the real Stripe SDK against the local fake Stripe API:

- a card saved with a payment that needs authentication is pending: not
  listed, not usable, until that payment is paid; failed, expired or
  cancelled it is forgotten and detached at the provider (after the commit);
- an order that expires while its payment waits for the shopper sends
  "your payment was not completed" (not the shop's "order cancelled");
- ``return_url`` is checked and handed to the provider, and a
  ``redirect_to_url`` next action brings the shopper back to it."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest

import settings
from models.checkout import cards
from models.checkout import payment as payments
from models.core.db import fetch_all
from tests.api.test_store_checkout import cart_lines, pay
from tests.payments.test_authentication import SECRET, ready, state, webhook
from tests.support.client import post_order
from tests.support.factories import count, product, stock_of


@pytest.fixture
def stripe_hooks(monkeypatch):
    monkeypatch.setattr(settings, "STRIPE_WEBHOOK_SECRET", SECRET)


def later() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(
        minutes=settings.UNPAID_ORDER_TTL_MINUTES + 1)


async def jobs(task: str) -> list[list]:
    rows = await fetch_all("SELECT args FROM outbox_job WHERE task = %s ORDER BY id", [task])
    return [orjson.loads(a) if isinstance(a, (str, bytes)) else a for (a,) in rows]


async def listed(api, user) -> list[dict]:
    resp = await api.get("/api/payment-methods/", user=user)
    assert resp.status == 200
    return resp.json()


# --- 1. a card saved with a payment that needs authentication -------------------------

@pytest.mark.gen_test(timeout=30)
async def test_test_gateway_card_saved_during_3ds_is_listed_only_once_paid(api, make_user):
    user = await make_user()
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    assert body["status"] == "REQUIRES_ACTION"
    assert await count("saved_payment_method", "user_id = %s AND pending_order_id = %s",
                       [user.id, body["order_id"]]) == 1
    assert await listed(api, user) == []  # pending: not shown
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.json()["status"] == "PAID"
    cards_now = await listed(api, user)
    assert [(c["payment_method_id"], c["last4"]) for c in cards_now] == [("pm_card_authenticationRequired", "3184")]
    assert await count("saved_payment_method", "pending_order_id IS NOT NULL") == 0


@pytest.mark.gen_test(timeout=30)
async def test_test_gateway_card_saved_during_failed_3ds_is_not_kept(api, make_user):
    user = await make_user()
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequiredDeclined", save_card=True)).json()
    assert await listed(api, user) == []
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.status == 400
    assert await count("saved_payment_method", "user_id = %s", [user.id]) == 0
    assert await jobs("tasks.checkout.detach_card") == [["test", "pm_card_authenticationRequiredDeclined"]]
    assert await listed(api, user) == []


@pytest.mark.gen_test(timeout=30)
async def test_stripe_card_saved_during_3ds_is_kept_once_the_webhook_pays(api, make_user, fake_stripe,
                                                                          stripe_hooks):
    user = await make_user()
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    intent = fake_stripe.intents[body["transaction_id"]]
    assert intent["setup_future_usage"] == "off_session" and intent["customer"]
    assert await listed(api, user) == []
    fake_stripe.authenticate(intent["id"])
    resp = await webhook(api, fake_stripe, "payment_intent.amount_capturable_updated", intent["id"])
    assert resp.json()["result"] == "applied"
    (card,) = await listed(api, user)
    assert card["payment_method_id"] == intent["payment_method"]
    assert fake_stripe.attached[card["payment_method_id"]] == intent["customer"]
    assert await jobs("tasks.checkout.detach_card") == []


@pytest.mark.gen_test(timeout=30)
async def test_stripe_card_saved_during_failed_3ds_is_forgotten(api, make_user, fake_stripe, stripe_hooks):
    user = await make_user()
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    pm = fake_stripe.intents[body["transaction_id"]]["payment_method"]
    fake_stripe.authenticate(body["transaction_id"], ok=False)
    resp = await webhook(api, fake_stripe, "payment_intent.payment_failed", body["transaction_id"])
    assert resp.json()["result"] == "applied"
    assert await count("saved_payment_method", "user_id = %s", [user.id]) == 0
    assert await jobs("tasks.checkout.detach_card") == [["stripe", pm]]
    # Never attached at Stripe (the intent never succeeded): detaching it is a no-op, not an error.
    assert pm not in fake_stripe.attached
    assert await cards.detach_discarded("stripe", pm) is True


@pytest.mark.gen_test(timeout=30)
async def test_stripe_card_authenticated_too_late_is_detached_when_the_order_expires(
        api, make_user, fake_stripe):
    user = await make_user()
    pid = await ready(api, user, stock=3, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    intent = fake_stripe.intents[body["transaction_id"]]
    fake_stripe.authenticate(intent["id"])  # authenticated (Stripe attached the card) but never confirmed
    assert fake_stripe.attached[intent["payment_method"]] == intent["customer"]
    assert await payments.expire_unpaid(later()) == [body["order_id"]]
    assert await payments.release_expired([body["order_id"]]) == 1
    assert intent["status"] == "canceled" and await stock_of(pid) == 3
    assert await count("saved_payment_method", "user_id = %s", [user.id]) == 0
    assert await jobs("tasks.checkout.detach_card") == [["stripe", intent["payment_method"]]]
    assert await cards.detach_discarded("stripe", intent["payment_method"]) is True  # the job's work
    assert intent["payment_method"] not in fake_stripe.attached
    assert await listed(api, user) == []


@pytest.mark.gen_test(timeout=30)
async def test_a_card_saved_again_before_the_detach_job_runs_stays_attached(api, make_user):
    from models.core.db import db

    user = await make_user()
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequiredDeclined", save_card=True)).json()
    await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert await jobs("tasks.checkout.detach_card") == [["test", "pm_card_authenticationRequiredDeclined"]]
    await db.aio_execute_sql("INSERT INTO saved_payment_method (user_id, provider, reference) "
                             "VALUES (%s, 'test', 'pm_card_authenticationRequiredDeclined')", [user.id])
    assert await cards.detach_discarded("test", "pm_card_authenticationRequiredDeclined") is False


@pytest.mark.gen_test(timeout=30)
async def test_shopper_cancelling_a_3ds_order_cancels_the_intent_and_forgets_the_card(
        api, make_user, fake_stripe):
    user = await make_user()
    pid = await ready(api, user, stock=3, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    intent = fake_stripe.intents[body["transaction_id"]]
    resp = await api.post(f"/api/orders/{body['order_id']}/cancel/", user=user)
    assert resp.status == 200 and resp.json()["status"] == "CANCELLED"
    # Authenticating it later (another tab) can no longer capture it and revive the cancelled order.
    assert intent["status"] == "canceled"
    assert await state(body["order_id"]) == ("CANCELLED", "FAILED", "FAILED")
    assert await stock_of(pid) == 3
    assert await count("saved_payment_method", "user_id = %s", [user.id]) == 0
    assert await jobs("tasks.checkout.detach_card") == [["stripe", intent["payment_method"]]]
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.status == 400
    # Cancelling a paid order is still refused, nothing touched at Stripe.
    await ready(api, user, qty=1)
    paid = (await pay(api, user, "pm_card_visa")).json()
    resp = await api.post(f"/api/orders/{paid['order_id']}/cancel/", user=user)
    assert resp.status == 400 and fake_stripe.intents[paid["transaction_id"]]["status"] == "succeeded"


@pytest.mark.gen_test(timeout=30)
async def test_pending_card_of_an_order_staff_cancelled_goes_with_the_hourly_clean_up(api, make_user):
    user = await make_user()
    admin = await make_user(is_staff=True)
    await ready(api, user, qty=1)
    body = (await pay(api, user, "pm_card_authenticationRequired", save_card=True)).json()
    resp = await api.patch(f"/api/orders/{body['order_id']}/update_status/", json={"status": "CANCELLED"},
                           user=admin)
    assert resp.status == 200
    assert await cards.prune_pending_cards() == 1
    assert await cards.prune_pending_cards() == 0
    assert await count("saved_payment_method", "user_id = %s", [user.id]) == 0
    assert len(await jobs("tasks.checkout.detach_card")) == 1


# --- 2. the email of an order that expired waiting for the shopper -------------------

@pytest.mark.gen_test(timeout=30)
async def test_expired_3ds_order_sends_payment_not_completed_not_order_cancelled(api, make_user):
    user = await make_user()
    pid = await ready(api, user, stock=2, qty=2)
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    order_id = body["order_id"]
    assert await payments.expire_unpaid(later()) == [order_id]
    assert await state(order_id) == ("CANCELLED", "PENDING", "PENDING")
    assert await payments.release_expired([order_id]) == 1
    assert await state(order_id) == ("CANCELLED", "FAILED", "FAILED")
    # The confirm call says the order expired, not that the card failed its authentication.
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": order_id}, user=user)
    assert resp.status == 400 and resp.json()["errors"]["payment"] == [
        "The order was cancelled before the payment was authenticated; nothing was charged"]
    assert await stock_of(pid) == 2 and await cart_lines(user) == 1  # the cart waits to be paid again
    assert await jobs("tasks.checkout.payment_not_completed") == [[order_id]]
    assert await jobs("tasks.orders.order_status_changed") == []
    assert await jobs("tasks.orders.order_placed") == []  # never confirmed


@pytest.mark.gen_test(timeout=30)
async def test_expired_direct_order_still_gets_the_status_email(api, make_user):
    user = await make_user()
    pid = await product("Lamp", stock=3, base_price="20.00")
    resp = await post_order(api, user, [{"product_id": pid, "quantity": 1}])
    assert resp.status == 201, resp
    order_id = resp.json()["order_id"]
    assert await payments.expire_unpaid(later()) == [order_id]
    assert await jobs("tasks.orders.order_status_changed") == [[order_id, "CANCELLED"]]
    assert await jobs("tasks.checkout.payment_not_completed") == []


@pytest.mark.gen_test(timeout=30)
async def test_payment_not_completed_email_says_nothing_was_charged_and_the_cart_waits(api, make_user):
    from models.core import mail
    from models.orders import notify

    user = await make_user(full_name="Ada Buyer")
    await ready(api, user, qty=2, price="100.00")
    body = (await pay(api, user, "pm_card_authenticationRequired")).json()
    await payments.expire_unpaid(later())
    ctx = await notify.order_context(body["order_id"])
    subject, html, text = mail.render("payment_not_completed", cart_url=f"{settings.FRONTEND_URL}/cart",
                                      minutes=settings.UNPAID_ORDER_TTL_MINUTES, **ctx)
    assert body["order_number"] in subject and "not placed" in subject
    for part in ("Nothing was charged", f"{settings.FRONTEND_URL}/cart", "Armchair", "200.00",
                 body["order_number"], f"{settings.UNPAID_ORDER_TTL_MINUTES} minutes"):
        assert part in text and part in html
    assert "cancelled" not in text.lower()


# --- 3. return_url -------------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_test_gateway_redirects_back_to_the_return_url(api, make_user):
    user = await make_user()
    await ready(api, user, qty=1)
    back = "https://shop.test/checkout/complete?step=3"
    body = (await pay(api, user, "pm_card_authenticationRequired", return_url=back)).json()
    assert body["status"] == "REQUIRES_ACTION"
    action = body["next_action"]
    assert action["type"] == "redirect_to_url" and action["redirect_to_url"]["return_url"] == back
    url = action["redirect_to_url"]["url"]
    assert url.startswith(back + "&payment_intent=" + body["transaction_id"])
    assert "redirect_status=succeeded" in url and "payment_intent_client_secret=" in url
    resp = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert resp.json()["status"] == "PAID"


@pytest.mark.gen_test(timeout=30)
async def test_stripe_payment_intent_gets_the_return_url_and_answers_its_redirect(api, make_user, fake_stripe):
    user = await make_user()
    await ready(api, user, qty=1)
    back = "https://shop.test/checkout/complete"
    body = (await pay(api, user, "pm_card_authenticationRequired", return_url=back)).json()
    create = [r for r in fake_stripe.requests if r[1] == "payment_intents"][-1][2]
    assert create["return_url"] == back
    assert "automatic_payment_methods[allow_redirects]" not in create  # redirects allowed: they come back
    assert body["next_action"] == {"type": "redirect_to_url", "redirect_to_url": {
        "url": f"https://hooks.stripe.test/redirect/authenticate/src_{body['transaction_id']}", "return_url": back}}
    # The confirm call while the shopper is still at the bank answers the same redirect.
    waiting = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert waiting.json()["status"] == "REQUIRES_ACTION"
    assert waiting.json()["next_action"]["redirect_to_url"]["return_url"] == back
    fake_stripe.authenticate(body["transaction_id"])
    paid = await api.post("/api/checkout/payment/confirm/", json={"order_id": body["order_id"]}, user=user)
    assert paid.json()["status"] == "PAID"
    # Without return_url: no redirects, as before.
    await ready(api, user, qty=1)
    await pay(api, user, "pm_card_authenticationRequired")
    create = [r for r in fake_stripe.requests if r[1] == "payment_intents"][-1][2]
    assert "return_url" not in create and create["automatic_payment_methods[allow_redirects]"] == "never"


@pytest.mark.parametrize("url", [
    "http://shop.test/checkout/complete",           # http off localhost
    "https://evil.test/checkout/complete",          # another site
    "https://shop.test.evil.test/x",                # a look-alike host
    "https://user:pw@shop.test/x",                  # credentials
    "javascript:alert(1)",
    "//shop.test/x",                                # no scheme
    "https://shop.test:notaport/x",
    "ftp://localhost/x",
    "http://localhost:3000/checkout/complete",     # localhost, but not the storefront's site here
])
@pytest.mark.gen_test(timeout=30)
async def test_a_return_url_off_the_storefront_is_refused_and_changes_nothing(api, make_user, url):
    user = await make_user()
    pid = await ready(api, user, stock=5, qty=1)
    resp = await pay(api, user, "pm_card_authenticationRequired", return_url=url)
    assert resp.status == 400, resp
    body = resp.json()
    assert body["message"] == "Validation error" and "return_url" in body["errors"]
    assert "FRONTEND_URL" in body["errors"]["return_url"][0]
    assert await count("orders") == 0 and await stock_of(pid) == 5 and await cart_lines(user) == 1


@pytest.mark.gen_test(timeout=30)
async def test_return_url_allow_list_and_localhost(api, make_user, monkeypatch):
    monkeypatch.setattr(settings, "PAYMENT_RETURN_HOSTS", ["*.avantlush.test", "pay.partner.test"])
    assert payments.return_url_problem("https://m.avantlush.test/back") is None
    assert payments.return_url_problem("https://pay.partner.test/back") is None
    assert payments.return_url_problem("https://other.partner.test/back") is not None
    assert payments.return_url_problem("https://www.shop.test/back") is None  # a subdomain of the site
    monkeypatch.setattr(settings, "FRONTEND_URL", "http://localhost:3000")
    assert payments.return_url_problem("http://localhost:3000/checkout/complete") is None
    assert payments.return_url_problem("http://localhost.evil.test/x") is not None
    user = await make_user()
    await ready(api, user, qty=1)
    resp = await pay(api, user, "pm_card_authenticationRequired", return_url="https://m.avantlush.test/back")
    assert resp.status == 200 and resp.json()["next_action"]["type"] == "redirect_to_url"


@pytest.mark.gen_test(timeout=30)
async def test_a_detach_the_provider_cannot_take_waits_in_the_outbox_not_in_a_worker(monkeypatch):
    """Stripe unreachable: the detach job is queued again through the outbox
    (a row with a later available_at, the attempt counted), never held as a
    delayed message by a worker; after the last attempt it gives up."""
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setattr(settings, "STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens
    from models.payments.providers import stripe as stripe_provider

    monkeypatch.setattr(stripe_provider, "_client", None)
    assert await cards.detach_or_retry("stripe", "pm_gone", 0) is False
    # (the session's worker may be retrying other tests' detaches meanwhile: this card's rows only)
    query = ("SELECT args, available_at > now() + interval '20 seconds' FROM outbox_job "
             "WHERE task = 'tasks.checkout.detach_card' AND args ->> 1 = 'pm_gone'")
    rows = await fetch_all(query)
    assert [(orjson.loads(a) if isinstance(a, (str, bytes)) else a, later) for a, later in rows] == \
        [(["stripe", "pm_gone", 1], True)]
    assert await cards.detach_or_retry("stripe", "pm_gone", cards.DETACH_ATTEMPTS - 1) is False
    assert len(await fetch_all(query)) == 1  # the last attempt queues nothing
