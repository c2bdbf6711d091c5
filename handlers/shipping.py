"""Shipping: methods (public list and detail; staff CRUD), the quote of the
current cart to an address, delivery date slots for bulky items, and staff
CRUD of zones, rates and daily delivery capacity. Rules in models/shipping/,
the cart-side flow in models/checkout/delivery.py."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from handlers.core.base import ADMIN, USER, BaseHandler
from handlers.core.fields import (
    Flag,
    In,
    IsoDate,
    Money,
    MoneyText,
    OptionalMoney,
    OptionalText,
    OrNull,
    Out,
    Pk,
    Quantity,
    Text,
    _decimal,
    _decimal_doc,
    partial,
)
from handlers.core.openapi import api
from handlers.core.routing import Route
from models import shipping
from models.catalog.queries import is_staff
from models.checkout import delivery
from models.core.db import utcnow
from models.core.errors import ValidationFailed
from models.shipping import slots as slot_rules
from models.shipping import zones

# A band's bound: kg, m3 or an amount, at most 3 decimal places (NUMERIC(12,3)).
Measure = Annotated[Decimal, _decimal(null=False, minimum=Decimal(0), places=3),
                    _decimal_doc(null=False, minimum=Decimal(0), places=3)]
OptionalMeasure = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal(0), places=3),
                            _decimal_doc(null=True, minimum=Decimal(0), places=3)]
OptionalCount = Annotated[int, Field(ge=0, le=100000)] | None


class ShippingMethodIn(In):
    name: Text = Field(max_length=100)
    price: Money
    estimated_days: Quantity = Field(le=365, description="Business days to deliver")
    description: OptionalText = Field(default="", max_length=2000)
    is_active: Flag = True
    handles_bulky: Flag = Field(default=False, description="Delivers bulky items (white glove) on a date the "
                                                          "shopper picks; carts holding a bulky product are "
                                                          "offered only such methods")


ShippingMethodPatch = partial(ShippingMethodIn, "ShippingMethodPatch")


class ShippingMethodOut(Out):
    id: int
    name: str
    price: MoneyText
    estimated_days: int
    description: str
    delivery_date: str = Field(description="Now plus estimated_days business days (UTC)")
    is_active: bool
    handles_bulky: bool = Field(description="Delivers bulky items on a chosen date")


class ShippingMethodListHandler(BaseHandler):
    roles = {"POST": ADMIN}

    @api(response=list[ShippingMethodOut])
    async def get(self):
        """Active shipping methods, cheapest first (staff see inactive ones too)."""
        methods = await shipping.list_shipping_methods(include_inactive=is_staff(self.current_user))
        self.reply([shipping.shipping_payload(m) for m in methods])

    @api(body=ShippingMethodIn, response=ShippingMethodOut, status=201)
    async def post(self):
        """Create a shipping method."""
        data = self.parse(ShippingMethodIn)
        self.reply(shipping.shipping_payload(await shipping.create_shipping_method(data.model_dump())), 201)


class ShippingMethodHandler(BaseHandler):
    roles = {"PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @api(response=ShippingMethodOut)
    async def get(self, id: str):
        """One shipping method."""
        method = await shipping.get_shipping_method(int(id), include_inactive=is_staff(self.current_user))
        self.reply(shipping.shipping_payload(method))

    @api(body=ShippingMethodIn, response=ShippingMethodOut)
    async def put(self, id: str):
        """Replace a shipping method's fields."""
        data = self.parse(ShippingMethodIn)
        self.reply(shipping.shipping_payload(await shipping.update_shipping_method(int(id), data.model_dump())))

    @api(body=ShippingMethodPatch, response=ShippingMethodOut)
    async def patch(self, id: str):
        """Change some fields of a shipping method."""
        data = self.parse(ShippingMethodPatch)
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(shipping.shipping_payload(await shipping.update_shipping_method(int(id), changes)))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a shipping method (one that orders use is deactivated instead)."""
        await shipping.delete_shipping_method(int(id))
        self.reply(status=204)


# --- the shopper: a quote of the current cart, delivery dates ----------------------------

DESTINATION_DOC = "A destination: address_id (one of yours), or country (ISO 3166 code or name) and optionally state"


class QuoteIn(In):
    address_id: Pk = Field(default=None, description="One of the user's saved addresses")
    country: OptionalText = Field(default="", max_length=100, description="ISO 3166 code or English name")
    state: OptionalText = Field(default="", max_length=100, description="State or province (code or name)")
    zip_code: OptionalText = Field(default="", max_length=20, description="Postal code: zones narrowed by postal "
                                                                         "code match it (upper case, spaces removed)")


class SlotsQuery(In):
    address_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="One of the user's saved addresses")
    country: str | None = Field(default=None, max_length=100, description="ISO 3166 code or English name")
    state: str | None = Field(default=None, max_length=100, description="State or province (code or name)")
    zip_code: str | None = Field(default=None, max_length=20, description="Postal code (zones narrowed by postal code)")


class ZoneBriefOut(Out):
    id: int
    name: str
    free_shipping_threshold: MoneyText | None
    schedules_deliveries: bool = Field(description="Bulky deliveries there take a date (GET /api/shipping/slots/)")


class QuotedMethodOut(Out):
    id: int
    name: str
    description: str
    price: MoneyText = Field(description="For this cart and destination (0.00 above the zone's free-shipping threshold)")
    estimated_days: int
    delivery_date: str = Field(description="Now plus estimated_days business days (UTC)")
    handles_bulky: bool
    requires_delivery_date: bool = Field(description="checkout/initiate/ needs a delivery_date with this method")


class QuoteOut(Out):
    country: str = Field(description="ISO 3166-1 alpha-2")
    state: str | None = Field(description="ISO 3166-2 code when known")
    postal_code: str | None = Field(description="The postal code as zones compare it (upper case, no spaces)")
    zone: ZoneBriefOut | None = Field(description="The zone the destination falls in (null: none)")
    bulky: bool = Field(description="The cart holds a bulky product")
    weight_kg: str = Field(pattern=r"^\d+\.\d{3}$", examples=["84.500"], description="Total weight (kg)")
    volume_m3: str = Field(pattern=r"^\d+\.\d{3}$", examples=["1.250"], description="Total volume (m3)")
    goods_total: MoneyText = Field(description="Subtotal less the promo discount (what thresholds and subtotal bands see)")
    amount_to_free_shipping: MoneyText | None = Field(description="Left to reach the zone's free-shipping threshold")
    methods: list[QuotedMethodOut] = Field(description="The methods that deliver this cart there, cheapest first")


class SlotOut(Out):
    date: str
    remaining: int
    available: bool


class SlotsOut(Out):
    zone: ZoneBriefOut | None
    bulky: bool
    earliest_date: str = Field(description="The day after the cart's latest expected ship date")
    dates: list[SlotOut] = Field(description="The next 30 days with the deliveries left (empty: the zone "
                                             "schedules no deliveries)")


_DESTINATION_REJECTS = {400: "an empty cart or one with items out of stock, no destination, an address_id that is "
                             "not the user's, or a country pycountry does not know"}


class ShippingQuoteHandler(BaseHandler):
    role = USER
    guest_ok = True  # a guest's cart (X-Cart-Token) is quoted too

    @api(body=QuoteIn, response=QuoteOut, rejects=_DESTINATION_REJECTS)
    async def post(self):
        """The shipping methods that deliver the current cart to an address, with their prices."""
        data = self.parse(QuoteIn)
        self.reply(await delivery.shipping_quote(self.current_user, data.address_id, data.country or None,
                                                 data.state or None, data.zip_code or None))


class DeliverySlotsHandler(BaseHandler):
    role = USER
    guest_ok = True

    @api(query=SlotsQuery, response=SlotsOut, rejects=_DESTINATION_REJECTS)
    async def get(self):
        """Delivery dates open for the current cart's bulky items at an address."""
        q = self.query(SlotsQuery)
        self.reply(await delivery.delivery_slots(self.current_user, q.address_id, q.country, q.state, q.zip_code))


# --- staff: zones, rates, daily capacity --------------------------------------------------

class RateOut(Out):
    id: int
    zone_id: int
    shipping_method_id: int
    shipping_method_name: str
    basis: Literal["weight", "volume", "subtotal"]
    min_value: str = Field(description="Inclusive lower bound (kg, m3 or amount)", examples=["0.000"])
    max_value: str | None = Field(description="Exclusive upper bound (null: none)", examples=["30.000"])
    price: MoneyText


POSTAL_RULES_DOC = ("Optional postal-code rules (empty: the whole countries/states): a prefix (\"100\" covers 100xx) "
                    "or a range start-end inclusive (bounds of one length, compared with the code's first as many "
                    "characters: 10000-10499 covers 10001-1234), or one code (start alone). Codes are compared "
                    "upper-cased, spaces removed. A zone that includes the code beats one naming states, which "
                    "beats a country-wide one")


class PostalRuleOut(Out):
    start: str | None = Field(description="First code of a range (or the one code)")
    end: str | None = Field(description="Last code of the range, inclusive (null: start alone)")
    prefix: str | None = Field(description="Codes starting with it")


class PostalRuleIn(In):
    start: str | None = Field(default=None, max_length=30, description="First code of a range (or the one code)")
    end: str | None = Field(default=None, max_length=30, description="Last code of the range, inclusive")
    prefix: str | None = Field(default=None, max_length=30, description="Codes starting with it (instead of a range)")


class ZoneOut(Out):
    id: int
    name: str
    countries: list[str] = Field(description="ISO 3166-1 alpha-2 codes")
    states: list[str] = Field(description="ISO 3166-2 codes (or upper-cased names); empty: the whole countries")
    postal_codes: list[PostalRuleOut] = Field(description=POSTAL_RULES_DOC)
    postal_code_mode: Literal["include", "exclude"] = Field(description="include: only the codes the rules match; "
                                                                        "exclude: every code but those")
    free_shipping_threshold: MoneyText | None
    delivery_capacity: int | None = Field(description="Bulky deliveries a day (null: no delivery slots)")
    is_active: bool
    rates: list[RateOut]


class ZoneIn(In):
    name: Text = Field(max_length=100)
    countries: list[Annotated[str, Field(max_length=100)]] = Field(
        min_length=1, max_length=300, description="ISO 3166 codes or English names")
    states: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=500, description="Optional: only these states (ISO 3166-2 code, "
                                                           "short code or name) of the countries")
    postal_codes: list[PostalRuleIn] = Field(default_factory=list, max_length=1000, description=POSTAL_RULES_DOC)
    postal_code_mode: Literal["include", "exclude"] = Field(default="include", description=(
        "include: the zone covers only the codes its rules match (an address without a code: none); exclude: "
        "every code but those"))
    free_shipping_threshold: OptionalMoney = Field(default=None, description="Goods at or above it ship free "
                                                                             "(except bulky methods)")
    delivery_capacity: OptionalCount = Field(default=None, description="Bulky deliveries a day (null: none)")
    is_active: Flag = True


ZonePatch = partial(ZoneIn, "ZonePatch")


class RateIn(In):
    shipping_method_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    basis: Literal["weight", "volume", "subtotal"] = Field(description="weight in kg, volume in m3, or the "
                                                                       "goods subtotal")
    min_value: Measure = Field(default=Decimal(0), description="Inclusive lower bound")
    max_value: OptionalMeasure = Field(default=None, description="Exclusive upper bound (null: none)")
    price: Money


RatePatch = partial(RateIn, "RatePatch")


class CapacityIn(In):
    date: Annotated[IsoDate, OrNull()] = Field(description="YYYY-MM-DD (required)")
    capacity: Quantity = Field(le=100000)


class DayOut(Out):
    zone_id: int
    date: str
    capacity: int
    booked: int
    remaining: int


class DaysQuery(In):
    start: IsoDate = Field(default=None, description="First day (default today)")


def _rate_out(rate: dict) -> dict:
    return {**rate, "min_value": f"{rate['min_value']:.3f}",
            "max_value": f"{rate['max_value']:.3f}" if rate["max_value"] is not None else None}


def _zone_out(zone: dict) -> dict:
    return {**zone, "rates": [_rate_out(r) for r in zone["rates"]]}


class ZoneListHandler(BaseHandler):
    role = ADMIN

    @api(response=list[ZoneOut])
    async def get(self):
        """Every shipping zone with its rates, by name."""
        self.reply([_zone_out(z) for z in await zones.list_zones()])

    @api(body=ZoneIn, response=ZoneOut, status=201,
         rejects={400: "a country (or state) pycountry does not know, or a postal-code rule that is not valid "
                       "(names postal_codes.N.start/end/prefix)"})
    async def post(self):
        """Create a shipping zone."""
        data = self.parse(ZoneIn)
        self.reply(_zone_out(await zones.create_zone(data.model_dump())), 201)


class ZoneHandler(BaseHandler):
    role = ADMIN

    @api(response=ZoneOut)
    async def get(self, id: str):
        """One shipping zone with its rates."""
        self.reply(_zone_out(await zones.get_zone(int(id))))

    @api(body=ZoneIn, response=ZoneOut, rejects={400: "a country pycountry does not know, or a postal-code rule "
                                                       "that is not valid"})
    async def put(self, id: str):
        """Replace a zone's fields (its rates stay)."""
        data = self.parse(ZoneIn)
        self.reply(_zone_out(await zones.update_zone(int(id), data.model_dump())))

    @api(body=ZonePatch, response=ZoneOut, rejects={400: "a country pycountry does not know, or a postal-code "
                                                         "rule that is not valid"})
    async def patch(self, id: str):
        """Change some fields of a zone."""
        data = self.parse(ZonePatch)
        self.reply(_zone_out(await zones.update_zone(int(id), data.model_dump(exclude_unset=True))))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a zone with its rates and delivery slots."""
        await zones.delete_zone(int(id))
        self.reply(status=204)


class ZoneRatesHandler(BaseHandler):
    role = ADMIN

    @api(body=RateIn, response=RateOut, status=201,
         rejects={400: "an unknown shipping method, or max_value not above min_value"})
    async def post(self, id: str):
        """Add a rate band of a shipping method to the zone."""
        data = self.parse(RateIn)
        self.reply(_rate_out(await zones.create_rate(int(id), data.model_dump())), 201)


class RateHandler(BaseHandler):
    role = ADMIN

    @api(response=RateOut)
    async def get(self, id: str):
        """One rate band."""
        self.reply(_rate_out(await zones.get_rate(int(id))))

    @api(body=RatePatch, response=RateOut,
         rejects={400: "an unknown shipping method, or max_value not above min_value"})
    async def patch(self, id: str):
        """Change a rate band."""
        data = self.parse(RatePatch)
        self.reply(_rate_out(await zones.update_rate(int(id), data.model_dump(exclude_unset=True))))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a rate band."""
        await zones.delete_rate(int(id))
        self.reply(status=204)


class ZoneSlotsHandler(BaseHandler):
    role = ADMIN

    @api(query=DaysQuery, response=list[DayOut])
    async def get(self, id: str):
        """The zone's next 30 days: capacity, booked and remaining deliveries."""
        q = self.query(DaysQuery)
        self.reply(await slot_rules.zone_days(int(id), q.start or utcnow().date()))

    @api(body=CapacityIn, response=DayOut,
         rejects={400: "a capacity below the deliveries already booked that day"})
    async def put(self, id: str):
        """Set how many bulky deliveries one day takes in the zone."""
        data = self.parse(CapacityIn)
        if data.date is None:
            raise ValidationFailed(errors={"date": ["This field is required."]})
        if data.date.year < 2000 or data.date.year > 9000:
            raise ValidationFailed(errors={"date": ["Give a date between 2000 and 9000."]})
        self.reply(await slot_rules.set_capacity(int(id), data.date, data.capacity))


routes = [
    Route("/api/shipping-methods/", ShippingMethodListHandler),
    Route("/api/shipping-methods/{id:int}/", ShippingMethodHandler),
    Route("/api/shipping/quote/", ShippingQuoteHandler),
    Route("/api/shipping/slots/", DeliverySlotsHandler),
    Route("/api/shipping-zones/", ZoneListHandler),
    Route("/api/shipping-zones/{id:int}/", ZoneHandler),
    Route("/api/shipping-zones/{id:int}/rates/", ZoneRatesHandler),
    Route("/api/shipping-zones/{id:int}/slots/", ZoneSlotsHandler),
    Route("/api/shipping-rates/{id:int}/", RateHandler),
]
