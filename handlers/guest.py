"""Guest checkout: start a guest cart (its token is the guest's only
credential: send it as ``X-Cart-Token`` to the cart and checkout endpoints),
and see a guest order through the signed link of its emails. Rules in
models/accounts/guests.py and models/checkout/guests.py."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import CART_TOKEN_HEADER, BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.orders import OrderOut
from models.accounts import guests
from models.core.errors import NotFound
from models.orders import notify, queries

LINK_GONE = "This order link is not valid or has expired."


class GuestCartOut(Out):
    cart_token: str = Field(description=f"Send it as the {CART_TOKEN_HEADER} header to /api/cart/… and "
                                        "/api/checkout/…; keep it secret (it is the guest's only credential) and "
                                        "send it with login or registration to merge the cart into the account")
    header: str = Field(description=f"The header to send it in: {CART_TOKEN_HEADER}")


class GuestCartHandler(BaseHandler):
    rate_scope = "guest_start"

    @api(response=GuestCartOut, status=201)
    async def post(self):
        """Start a guest cart: an anonymous shopper's cart token (rate-limited per client: RATE_LIMIT_GUEST_START).

        The guest flow, every request with the header `X-Cart-Token: <cart_token>`:

        1. `POST /api/cart/add-item/ {"product_id", "quantity"}` (every /api/cart/… operation works, promo codes too);
        2. `POST /api/checkout/initiate/ {"email", "shipping_method_id", "shipping_address": {…}}`;
        3. `POST /api/checkout/payment/ {"payment_method_id"}` (+ Idempotency-Key) → PAID, or REQUIRES_ACTION then
           `POST /api/checkout/payment/confirm/ {"order_id"}`;
        4. the confirmation email links to the order: `GET /api/guest/orders/{token}/` (signed, 30 days);
        5. `POST /api/register/` or `/api/auth/login/` with the same header merges the cart into the account
           (quantities added, capped at the stock left); once the email is verified the guest orders with that
           email belong to the account (`GET /api/orders/`).

        An unknown token is 401; a guest never reaches another cart or order.
        """
        _guest, token = await guests.start_guest()
        self.reply({"cart_token": token, "header": CART_TOKEN_HEADER}, 201)


class GuestOrderHandler(BaseHandler):
    not_found_message = LINK_GONE

    @api(response=OrderOut, errors={404: LINK_GONE})
    async def get(self, token: str):
        """A guest's order, through the signed, expiring link of its confirmation email."""
        found = notify.guest_order_id(token)
        if found is None:
            raise NotFound(LINK_GONE)
        order = await queries.order_payload_dict(found[0])
        if notify.email_digest(str(order.get("customer_email", ""))) != found[1]:
            raise NotFound(LINK_GONE)
        self.reply(order)


routes = [
    Route("/api/guest/cart/", GuestCartHandler),
    Route("/api/guest/orders/{token}/", GuestOrderHandler),
]
