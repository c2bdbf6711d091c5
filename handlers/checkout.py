"""Checkout: initiate (price the cart for a delivery address and keep the
quote), summary, payment of exactly that quote (Idempotency-Key honoured).
Rules in models/checkout/."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag

from handlers.cart import DiscountLineOut
from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Email, Flag, In, IsoDate, MoneyText, OptionalText, OrNull, Out, Pk, Text, lower_choice
from handlers.core.idempotency import idempotent
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.orders import ShippingIn
from models.checkout import payment as payments
from models.checkout import quote as checkout
from models.checkout import settle
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
    email: Email | None = Field(default=None, description="Guests (X-Cart-Token): required, the order and its "
                                                           "confirmation go to it; ignored for signed-in users")
    address_id: Pk = Field(default=None, description="One of the user's saved addresses (GET /api/addresses/)")
    delivery_date: Annotated[IsoDate, OrNull()] = Field(default=None, description=(
        "Bulky items delivered by a method that handles them (white glove), to a zone that schedules "
        "deliveries: the day chosen among GET /api/shipping/slots/ (required then, refused otherwise)"))
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


def _return_url(value: str) -> str:
    problem = payments.return_url_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


class PaymentIn(In):
    payment_method_id: OptionalText = Field(default="", max_length=255,
                                            description="The card's payment method (e.g. pm_card_visa)")
    save_card: Flag = Field(default=False, description=(
        "Keep the card for later payments (signed-in customers). A card whose payment needs 3-D Secure is "
        "listed only once that payment succeeds; if it fails or expires the card is not kept"))
    return_url: Annotated[OptionalText, AfterValidator(_return_url)] = Field(
        default="", max_length=2000, examples=["https://www.avantlush.com/checkout/complete"], description=(
            "Card payments: where the shopper comes back after a bank-redirect authentication "
            "(next_action.type redirect_to_url; Stripe's PaymentIntent return_url, which adds payment_intent, "
            "payment_intent_client_secret and redirect_status to it). https (http only on localhost), on "
            "FRONTEND_URL's site or a host of PAYMENT_RETURN_HOSTS; then POST /api/checkout/payment/confirm/. "
            "Empty: authentication in the page only (use_stripe_sdk)"))


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
    expected_ship_date: str | None = Field(default=None, description=(
        "When the line is expected to leave the warehouse (YYYY-MM-DD): today from stock, the restock date "
        "for backorders, today plus the lead time for made-to-order; null when unknown"))


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
    delivery_date: str | None = Field(default=None, description="The delivery date chosen for bulky items "
                                                                "(booked when the order is placed)")


class RedirectOut(Out):
    url: str = Field(description="Send the shopper here to authenticate",
                     examples=["https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3"])
    return_url: str | None = Field(description="Where the provider sends the shopper back: the return_url given "
                                               "to checkout/payment/",
                                   examples=["https://www.avantlush.com/checkout/complete"])


class NextActionOut(Out):
    type: str = Field(description="use_stripe_sdk (Stripe.js handleNextAction with client_secret does it) or "
                                  "redirect_to_url")
    redirect_to_url: RedirectOut | None = None


class PaymentOut(Out):
    success: bool
    order_id: int
    order_number: str
    transaction_id: str | None
    amount: MoneyText
    status: str = Field(description="PAID (card), REQUIRES_ACTION (card needing 3-D Secure: finish it with "
                                    "client_secret / next_action, e.g. Stripe.js handleNextAction, then POST "
                                    "/api/checkout/payment/confirm/; the order holds its stock until then or until "
                                    "the reservation expires) or PENDING (hosted: pay at redirect_url; the order "
                                    "holds its stock until the provider confirms or the reservation expires)")
    redirect_url: str | None = None
    client_secret: str | None = Field(default=None, description="REQUIRES_ACTION: the PaymentIntent's client secret")
    next_action: NextActionOut | None = Field(default=None, description="REQUIRES_ACTION: the provider's next action")


class ConfirmIn(In):
    order_id: Pk = Field(description="The order answered with status REQUIRES_ACTION")


class InitiateHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=InitiateIn, response=CheckoutOut,
         rejects={400: "a guest without email, an empty cart, items no longer in stock, physical goods without a "
                       "delivery address or "
                       "shipping method (the fields are named), an address_id that is not the user's, a "
                       "country pycountry does not know, a total beyond 9999999999.99, an unknown "
                       "shipping method or promo code, a shipping method that does not deliver this cart to "
                       "the address, or a delivery date missing (bulky items), outside the window or full"})
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
        given = data.shipping_address
        self.reply(await checkout.initiate_checkout(self.current_user, data.shipping_method_id, data.payment_method,
                                                    data.promo_code or None, data.address(), data.address_id,
                                                    data.delivery_date, email=data.email,
                                                    full_name=given.full_name if isinstance(given, AddressObjectIn)
                                                    else ""))


class SummaryHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(response=CheckoutOut, errors={404: "No checkout in progress"})
    async def get(self):
        """The open checkout."""
        self.reply(await checkout.checkout_summary(self.current_user))


class PaymentHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=PaymentIn, response=PaymentOut, idempotent=True,
         errors={404: "No checkout in progress",
                 409: "the cart or a price changed since initiate: nothing was charged; the body's `quote` is "
                      "the new quote, which the checkout now holds (pay again to accept it); or the chosen "
                      "delivery date filled up meanwhile (initiate again with another date)",
                 503: "the payment provider is not configured or not reachable: nothing changed "
                      "(cart, promo code and stock as they were)"},
         rejects={400: "a payment the gateway declines or refuses, a card payment without payment_method_id, "
                       "another user's saved card, save_card from a guest, or a return_url that is not https "
                       "(http on localhost) on the storefront's site or an allowed host"})
    async def post(self):
        """Pay exactly the open checkout's quote: a paid order (card) or the provider's page (PayPal, Clover).

        The three card outcomes (test gateway cards in brackets):

        1. No authentication needed (`pm_card_visa`): 200 `{"status": "PAID", "order_id", …}`.
        2. Authentication needed (`pm_card_authenticationRequired`): 200 `{"status": "REQUIRES_ACTION",
           "order_id", "client_secret", "next_action"}`; the order is PENDING and holds its stock. In the
           browser `stripe.handleNextAction({clientSecret})`; or, when the request gave a `return_url`,
           `next_action.type` may be `redirect_to_url`: send the shopper to `next_action.redirect_to_url.url`,
           the bank sends them back to the `return_url`. Then `POST /api/checkout/payment/confirm/
           {"order_id"}` → PAID (or 400: authentication failed, the order cancelled, nothing charged).
           Stripe's webhooks settle it too, once. Not authenticated in time: the order expires with its
           reservation and the shopper is emailed that the payment was not completed (nothing charged, cart
           kept). A card saved with such a payment is listed only once it is paid.
        3. Declined (`pm_card_chargeDeclined`): 400 `errors.payment = ["Your card was declined"]`, nothing changed.

        Saved cards: `save_card: true` keeps the card (signed-in customers); `GET /api/payment-methods/` lists
        them; pay with a saved card's `payment_method_id`. Guests send `X-Cart-Token` (see POST /api/guest/cart/).

        Hosted providers: the order is created PENDING holding its stock; the cart is
        emptied, the promo code used and the confirmation sent once the provider confirms.
        """
        data = self.parse(PaymentIn)
        key = self.request.headers.get("Idempotency-Key")

        async def run() -> tuple[int, Any]:
            return 200, await checkout.pay_checkout(self.current_user, data.payment_method_id or None,
                                                    data.save_card, key, data.return_url or None)

        await idempotent(self, "checkout.payment", run)


class ConfirmHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(body=ConfirmIn, response=PaymentOut,
         errors={404: "no card payment of the user's with this order id",
                 503: "the payment provider is not reachable: nothing changed; try again"},
         rejects={400: "authentication failed or the order expired first: the order is cancelled, its stock "
                       "back, nothing charged (pay again from the cart)"})
    async def post(self):
        """After 3-D Secure: re-read the payment at the provider and complete the order (PAID) once authenticated.

        Safe to call again and alongside the provider's webhook: the order is paid once.
        Still waiting for the shopper: status REQUIRES_ACTION (with client_secret/next_action when the
        provider gives them).
        """
        data = self.parse(ConfirmIn)
        if data.order_id is None:
            raise ValidationFailed(errors={"order_id": ["This field is required."]})
        self.reply(await settle.confirm_payment(self.current_user.id, data.order_id))


routes = [
    Route("/api/checkout/initiate/", InitiateHandler),
    Route("/api/checkout/summary/", SummaryHandler),
    Route("/api/checkout/payment/", PaymentHandler),
    Route("/api/checkout/payment/confirm/", ConfirmHandler),
]
