"""Checkout: initiate (price the cart for a delivery address and keep the
quote), summary, payment of exactly that quote (Idempotency-Key honoured).
Rules in models/checkout/."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag

from handlers.cart import DiscountLineOut
from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Flag, In, MoneyText, OptionalText, Out, Pk, Text, lower_choice
from handlers.core.idempotency import idempotent
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.orders import ShippingIn
from models.checkout import quote as checkout
from models.core.errors import ValidationFailed
from models.customers.countries import find_country

NOT_A_COUNTRY = "Enter a valid country: an ISO 3166 code (US, NGA) or an English name."


def _country(value: str) -> str:
    if find_country(value) is None:
        raise ValueError(NOT_A_COUNTRY)
    return value


Country = Annotated[Text, AfterValidator(_country)]


class AddressObjectIn(In):
    """A delivery address given with the checkout (instead of a saved one)."""

    full_name: OptionalText = Field(default="", max_length=255)
    street_address: Text = Field(max_length=255)
    city: Text = Field(max_length=100)
    state: OptionalText = Field(default="", max_length=100)
    country: Country = Field(max_length=100, description="ISO 3166 code or name (checked against pycountry)")
    zip_code: OptionalText = Field(default="", max_length=20)
    phone_number: OptionalText = Field(default="", max_length=20)


def _address_kind(value: Any) -> str:
    return "object" if isinstance(value, (dict, AddressObjectIn)) else "text"


def _address_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Field errors of the address without the union's branch names."""
    out: dict[str, list[str]] = {}
    for key, texts in errors.items():
        key = key.replace("shipping_address.object.", "shipping_address.").replace("shipping_address.text", "shipping_address")
        out.setdefault(key, []).extend(texts)
    return out


class InitiateIn(ShippingIn):
    shipping_method_id: Pk = Field(default=None, description="Required when the cart holds physical goods")
    payment_method: Annotated[Literal["stripe", "paypal", "clover"], BeforeValidator(lower_choice)] = "stripe"
    promo_code: OptionalText = Field(default="", max_length=50)
    address_id: Pk = Field(default=None, description="One of the user's saved addresses (GET /api/addresses/)")
    shipping_address: Annotated[Union[Annotated[AddressObjectIn, Tag("object")], Annotated[OptionalText, Tag("text")]],
                                Discriminator(_address_kind)] = Field(
        default="", description="A delivery address object, or (older clients) the street line with "
                                "shipping_city / shipping_country …; without either, address_id or else the "
                                "user's default address is used")

    def address(self) -> dict[str, str]:
        """The given address as order shipping fields. Raises ValidationFailed
        for a street line (older clients' flat fields) without a known country."""
        given = self.shipping_address
        if isinstance(given, str) and given and find_country(self.shipping_country) is None:
            raise ValidationFailed(errors={"shipping_country": [NOT_A_COUNTRY if self.shipping_country
                                                                else "This field is required."]})
        if isinstance(given, AddressObjectIn):
            fields = {"shipping_address": given.street_address, "shipping_city": given.city,
                      "shipping_state": given.state, "shipping_country": given.country,
                      "shipping_zip": given.zip_code}
        else:
            fields = {"shipping_address": given, "shipping_city": self.shipping_city,
                      "shipping_state": self.shipping_state, "shipping_country": self.shipping_country,
                      "shipping_zip": self.shipping_zip}
        return {**fields, "billing_address": self.billing_address}


class PaymentIn(In):
    payment_method_id: OptionalText = Field(default="", max_length=255,
                                            description="The card's payment method (e.g. pm_card_visa)")
    save_card: Flag = False


class ShippingMethodBriefOut(Out):
    id: int
    name: str
    price: MoneyText


class CheckoutItemOut(Out):
    product_id: int
    variation_id: int | None
    name: str
    sku: str
    quantity: int
    price: MoneyText
    subtotal: MoneyText


class AddressOut(Out):
    street_address: str
    city: str
    state: str
    country: str
    zip_code: str


class CheckoutOut(Out):
    checkout_id: str
    subtotal: MoneyText
    shipping_cost: MoneyText
    tax: MoneyText
    discount: MoneyText
    total: MoneyText
    promo_code: str | None = Field(description="The code of the promotion applied (None: none, or an automatic one)")
    discount_lines: list[DiscountLineOut] = Field(default=[], description="The promotion applied and what it takes off")
    shipping_method: ShippingMethodBriefOut | None
    payment_method: str
    items: list[CheckoutItemOut]
    shipping_address: AddressOut | None = Field(default=None, description="Where the order goes")


class PaymentOut(Out):
    success: bool
    order_id: int
    order_number: str
    transaction_id: str | None
    amount: MoneyText
    status: str = Field(description="PAID (card) or PENDING (hosted: pay at redirect_url; the order holds "
                                    "its stock until the provider confirms or the reservation expires)")
    redirect_url: str | None = None


class InitiateHandler(BaseHandler):
    role = USER

    @api(body=InitiateIn, response=CheckoutOut,
         rejects={400: "an empty cart, items no longer in stock, physical goods without a delivery address or "
                       "shipping method (the fields are named), an address_id that is not the user's, a "
                       "country pycountry does not know, a total beyond 9999999999.99, or an unknown "
                       "shipping method or promo code"})
    async def post(self):
        """Price the cart for a delivery address, shipping method, promo code and tax; keep it as the open checkout.

        The quote (lines with unit prices, discount, shipping, tax, total) is what
        checkout/payment/ charges.
        """
        try:
            data = self.parse(InitiateIn)
        except ValidationFailed as exc:
            exc.errors = _address_errors(exc.errors)
            raise
        self.reply(await checkout.initiate_checkout(self.current_user, data.shipping_method_id, data.payment_method,
                                                    data.promo_code or None, data.address(), data.address_id))


class SummaryHandler(BaseHandler):
    role = USER

    @api(response=CheckoutOut, errors={404: "No checkout in progress"})
    async def get(self):
        """The open checkout."""
        self.reply(await checkout.checkout_summary(self.current_user))


class PaymentHandler(BaseHandler):
    role = USER

    @api(body=PaymentIn, response=PaymentOut, idempotent=True,
         errors={404: "No checkout in progress",
                 409: "the cart or a price changed since initiate: nothing was charged; the body's `quote` is "
                      "the new quote, which the checkout now holds (pay again to accept it)",
                 503: "the payment provider is not configured or not reachable: nothing changed "
                      "(cart, promo code and stock as they were)"},
         rejects={400: "a payment the gateway declines or refuses, or a card payment without payment_method_id"})
    async def post(self):
        """Pay exactly the open checkout's quote: a paid order (card) or the provider's page (PayPal, Clover).

        Hosted providers: the order is created PENDING holding its stock; the cart is
        emptied, the promo code used and the confirmation sent once the provider confirms.
        """
        data = self.parse(PaymentIn)
        key = self.request.headers.get("Idempotency-Key")

        async def run() -> tuple[int, Any]:
            return 200, await checkout.pay_checkout(self.current_user, data.payment_method_id or None,
                                                    data.save_card, key)

        await idempotent(self, "checkout.payment", run)


routes = [
    Route("/api/checkout/initiate/", InitiateHandler),
    Route("/api/checkout/summary/", SummaryHandler),
    Route("/api/checkout/payment/", PaymentHandler),
]
