"""Checkout: initiate (price the cart and keep it), summary, payment
(Idempotency-Key honoured). Rules in models/orders/checkout.py."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Flag, In, OptionalText, Out, Pk, lower_choice
from handlers.core.idempotency import idempotent
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.orders import ShippingIn
from models.orders import checkout


class InitiateIn(ShippingIn):
    shipping_method_id: Pk = None
    payment_method: Annotated[Literal["stripe", "paypal", "clover"], BeforeValidator(lower_choice)] = "stripe"
    promo_code: OptionalText = Field(default="", max_length=50)


class PaymentIn(In):
    payment_method_id: OptionalText = Field(default="", max_length=255,
                                            description="The card's payment method (e.g. pm_card_visa)")
    save_card: Flag = False


class ShippingMethodBriefOut(Out):
    id: int
    name: str
    price: str


class CheckoutItemOut(Out):
    product_id: int
    variation_id: int | None
    name: str
    sku: str
    quantity: int
    price: str
    subtotal: str


class CheckoutOut(Out):
    checkout_id: str
    subtotal: str
    shipping_cost: str
    tax: str
    discount: str
    total: str
    promo_code: str | None
    shipping_method: ShippingMethodBriefOut | None
    payment_method: str
    items: list[CheckoutItemOut]


class PaymentOut(Out):
    success: bool
    order_id: int
    order_number: str
    transaction_id: str | None
    amount: str
    status: str
    redirect_url: str | None = None


class InitiateHandler(BaseHandler):
    role = USER

    @api(body=InitiateIn, response=CheckoutOut, rejects={400: "an empty cart, items no longer in stock, or an address or shipping method that cannot be used"})
    async def post(self):
        """Price the cart with a shipping method, promo code and tax, and keep it as the open checkout."""
        data = self.parse(InitiateIn)
        shipping = data.model_dump(include={"shipping_address", "shipping_city", "shipping_state", "shipping_country",
                                            "shipping_zip", "billing_address"})
        self.reply(await checkout.initiate_checkout(self.current_user, data.shipping_method_id, data.payment_method,
                                                    data.promo_code or None, shipping))


class SummaryHandler(BaseHandler):
    role = USER

    @api(response=CheckoutOut, errors={404: "No checkout in progress"})
    async def get(self):
        """The open checkout."""
        self.reply(await checkout.checkout_summary(self.current_user))


class PaymentHandler(BaseHandler):
    role = USER

    @api(body=PaymentIn, response=PaymentOut, errors={404: "No checkout in progress"}, rejects={400: "a payment the gateway declines or refuses"})
    async def post(self):
        """Pay the open checkout: a paid order (card) or the provider's page (PayPal, Clover)."""
        data = self.parse(PaymentIn)
        key = self.request.headers.get("Idempotency-Key")

        async def run():
            return 200, await checkout.pay_checkout(self.current_user, data.payment_method_id or None,
                                                    data.save_card, key)

        await idempotent(self, "checkout.payment", run)


routes = [
    Route("/api/checkout/initiate/", InitiateHandler),
    Route("/api/checkout/summary/", SummaryHandler),
    Route("/api/checkout/payment/", PaymentHandler),
]
