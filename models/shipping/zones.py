"""Shipping zones and rates: where a method delivers and what it costs there.

The rule (one home: ``price_for``):

- A method **without any rate** is priced flat (``shipping_method.price``)
  everywhere: the methods of before zones existed keep working.
- A method **with rates** is offered only where its zone (the most specific
  active zone containing the address, ``Rules.zone_for``) has rates for it, and only when the cart's measure falls in a
  band of every basis it has there (weight in kg, volume in m3, goods subtotal);
  its price is the highest of those bands (a wardrobe pays the greater of its
  weight and its volume rate, as carriers charge dimensional weight).
- A cart holding a bulky product is delivered only by methods that handle
  bulky items (``handles_bulky``), which need a delivery date when the zone
  has a daily capacity (models/shipping/slots.py).
- Goods (subtotal less discount) at or above the zone's
  ``free_shipping_threshold`` ship free with every method of the zone except
  the bulky (white-glove) ones.

Which zone (``Zone.contains``, ``Zone.rank``): a zone holds an address when
the country is one of its countries, the state one of its states (if it
names any) and the postal code passes its postal-code rules (if it has any,
``PostalRule``, as Saleor's shipping postal-code rules): in ``include`` mode
the code must match a rule (an address without a code matches none), in
``exclude`` mode it must match none (an address without a code passes).
Postal codes are compared normalised (upper case, spaces removed). Of the
zones holding an address the most specific wins: one that included the code
by a rule, then one naming states, then a country-wide one; within a level a
zone narrowed by excluded codes before one that is not, then the lowest id.
So "New York City" (US, prefixes 100-104) beats "New York" (US-NY), which
beats "US".

Reads: two queries (zones, rates); staff CRUD below.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

import peewee

from models.core.db import fetch_all, fetch_one, money, transaction, utcnow
from models.core.errors import NotFound, ValidationFailed
from models.customers.countries import find_country
from models.shipping.tables import ShippingMethod, ShippingRate, ShippingZone

BASES = ("weight", "volume", "subtotal")
ZONE_NOT_FOUND = "Shipping zone not found"
RATE_NOT_FOUND = "Shipping rate not found"
ZERO = Decimal("0.00")


# --- where and what ----------------------------------------------------------------

def state_code(country: str, text: str) -> str:
    """A state as zones store it: its ISO 3166-2 code (``US-CA``) when
    pycountry knows it by code (``US-CA`` or ``CA``) or name (``California``),
    else the text upper-cased."""
    import pycountry

    text = (text or "").strip()
    if not text:
        return ""
    upper = text.upper()
    if country:
        for sub in pycountry.subdivisions.get(country_code=country) or []:
            if upper in (sub.code.upper(), sub.code.split("-", 1)[1].upper(), sub.name.upper()):
                return sub.code.upper()
    return upper[:100]


def postal_code(text: str | None) -> str:
    """A postal code as zones compare it: upper case, spaces removed (``sw1a 1aa`` → ``SW1A1AA``)."""
    return "".join((text or "").split()).upper()


@dataclass(frozen=True)
class Destination:
    """Where a parcel goes: an alpha-2 country ('' unknown), a state code ('' none)
    and a normalised postal code ('' none)."""

    country: str
    state: str = ""
    postal_code: str = ""

    @classmethod
    def of(cls, country: str | None, state: str | None = "", zip_code: str | None = "") -> "Destination":
        code = find_country(country or "") or ""
        return cls(code, state_code(code, state or ""), postal_code(zip_code))

    @classmethod
    def from_shipping(cls, fields: dict[str, Any] | None) -> "Destination | None":
        """From order shipping fields (``shipping_country``/``shipping_state``/``shipping_zip``); None without a country."""
        if not fields or not (fields.get("shipping_country") or "").strip():
            return None
        return cls.of(fields.get("shipping_country"), fields.get("shipping_state"), fields.get("shipping_zip"))


POSTAL_MODES = ("include", "exclude")
MAX_POSTAL_RULES = 1000
_POSTAL_CHARS = re.compile(r"^[A-Z0-9-]{1,20}$")


@dataclass(frozen=True)
class PostalRule:
    """One postal-code rule of a zone: a ``prefix`` (``100`` covers 100xx), or
    a range ``start``–``end`` inclusive (bounds of one length, compared with
    the code's first as many characters: ``10000``–``10499`` covers
    ``10001-1234``), or one code (``start`` alone, compared the same way)."""

    start: str | None = None
    end: str | None = None
    prefix: str | None = None

    def matches(self, code: str) -> bool:
        if not code:
            return False
        if self.prefix:
            return code.startswith(self.prefix)
        start = self.start or ""
        head = code[:len(start)]
        return len(head) == len(start) and start <= head <= (self.end or start)

    def payload(self) -> dict[str, str | None]:
        return {"start": self.start, "end": self.end, "prefix": self.prefix}

    @classmethod
    def of(cls, stored: dict[str, Any]) -> "PostalRule":
        return cls(stored.get("start"), stored.get("end"), stored.get("prefix"))


@dataclass
class Parcel:
    """What the cart sends: total weight (kg), volume (m3), goods value
    (subtotal less discount), whether any product is bulky, and the latest
    expected ship date of its lines (None: today)."""

    weight: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    goods: Decimal = ZERO
    bulky: bool = False
    ships_on: dt.date | None = None

    def measure(self, basis: str) -> Decimal:
        return {"weight": self.weight, "volume": self.volume, "subtotal": self.goods}[basis]


@dataclass
class Zone:
    id: int
    name: str
    countries: list[str]
    states: list[str]
    free_shipping_threshold: Decimal | None
    delivery_capacity: int | None
    is_active: bool = True
    postal_codes: list[PostalRule] = field(default_factory=list)
    postal_code_mode: str = "include"

    def __post_init__(self) -> None:  # rows give the stored JSON objects
        self.postal_codes = [r if isinstance(r, PostalRule) else PostalRule.of(r) for r in self.postal_codes or []]

    def contains(self, dest: Destination) -> bool:
        if dest.country not in self.countries or (self.states and dest.state not in self.states):
            return False
        if not self.postal_codes:
            return True
        matched = any(rule.matches(dest.postal_code) for rule in self.postal_codes)
        return matched if self.postal_code_mode == "include" else not matched

    @property
    def rank(self) -> tuple[int, int, int]:
        """Lower is more specific (module docstring): postal codes included,
        then states, then countries; exclusions first within a level; then id."""
        level = 0 if self.postal_codes and self.postal_code_mode == "include" else 1 if self.states else 2
        excluding = 0 if self.postal_codes and self.postal_code_mode == "exclude" else 1
        return level, excluding, self.id


@dataclass
class Rate:
    id: int
    zone_id: int
    shipping_method_id: int
    basis: str
    min_value: Decimal
    max_value: Decimal | None
    price: Decimal

    def covers(self, value: Decimal) -> bool:
        return self.min_value <= value and (self.max_value is None or value < self.max_value)


@dataclass
class Rules:
    """Active zones (most specific first) and every rate."""

    zones: list[Zone]
    rates: list[Rate]
    rated_methods: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rated_methods = {r.shipping_method_id for r in self.rates}
        self.zones = sorted(self.zones, key=lambda z: z.rank)

    def zone_for(self, dest: Destination | None) -> Zone | None:
        """The most specific active zone holding ``dest`` (None: none, or no country)."""
        if dest is None or not dest.country:
            return None
        return next((z for z in self.zones if z.contains(dest)), None)

    def price_for(self, method: Any, zone: Zone | None, parcel: Parcel) -> Decimal | None:
        """What ``method`` costs for ``parcel`` in ``zone``; None: not offered there."""
        if parcel.bulky and not method.handles_bulky:
            return None
        if method.id not in self.rated_methods:
            price = money(method.price)
        else:
            if zone is None:
                return None
            rates = [r for r in self.rates if r.zone_id == zone.id and r.shipping_method_id == method.id]
            if not rates:
                return None
            bands: list[Decimal] = []
            for basis in sorted({r.basis for r in rates}):
                value = parcel.measure(basis)
                band = next((r for r in rates if r.basis == basis and r.covers(value)), None)
                if band is None:
                    return None  # too heavy, too big, or below the smallest band
                bands.append(band.price)
            price = money(max(bands))
        if (zone is not None and zone.free_shipping_threshold is not None and not method.handles_bulky
                and parcel.goods >= zone.free_shipping_threshold):
            return ZERO
        return price


_ZONE_COLUMNS = ("id, name, countries, states, free_shipping_threshold, delivery_capacity, is_active, postal_codes, "
                 "postal_code_mode")
_RATE_COLUMNS = "id, zone_id, shipping_method_id, basis, min_value, max_value, price"


async def load_rules() -> Rules:
    """Active zones, most specific first (``Zone.rank``), and all rates. Two queries."""
    zones = [Zone(*r) for r in await fetch_all(
        f"SELECT {_ZONE_COLUMNS} FROM shipping_zone WHERE is_active ORDER BY id")]
    rates = [Rate(*r) for r in await fetch_all(
        f"SELECT {_RATE_COLUMNS} FROM shipping_rate ORDER BY zone_id, shipping_method_id, basis, min_value")]
    return Rules(zones, rates)


async def quote_shipping(method: Any, destination: Destination | None, parcel: Parcel) -> Decimal | None:
    """What ``method`` (a ShippingMethod) costs to send ``parcel`` to
    ``destination``; None when it does not deliver there (or the parcel is
    beyond its bands, or bulky and it does not handle bulky items)."""
    rules = await load_rules()
    return rules.price_for(method, rules.zone_for(destination), parcel)


@dataclass
class Offer:
    method: ShippingMethod
    price: Decimal


async def shipping_offers(destination: Destination | None, parcel: Parcel) -> tuple[Zone | None, list[Offer]]:
    """The zone of ``destination`` and the active methods offered there with
    their prices, cheapest first. Three queries."""
    rules = await load_rules()
    zone = rules.zone_for(destination)
    methods = list(await ShippingMethod.select().where(ShippingMethod.is_active)
                   .order_by(ShippingMethod.price, ShippingMethod.id).aio_execute())
    offers = []
    for method in methods:
        price = rules.price_for(method, zone, parcel)
        if price is not None:
            offers.append(Offer(method, price))
    offers.sort(key=lambda o: (o.price, o.method.id))
    return zone, offers


# --- staff: zones -----------------------------------------------------------------------

def _countries(values: Iterable[str]) -> list[str]:
    codes, bad = [], []
    for value in values:
        code = find_country(value)
        if code is None:
            bad.append(value)
        elif code not in codes:
            codes.append(code)
    if bad:
        raise ValidationFailed(errors={"countries": [f'"{b}" is not a country (ISO 3166 code or English name).'
                                                     for b in bad]})
    if not codes:
        raise ValidationFailed(errors={"countries": ["Name at least one country."]})
    return codes


def _states(countries: list[str], values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        code = ""
        for country in countries:
            candidate = state_code(country, value)
            if "-" in candidate and candidate.startswith(country + "-"):
                code = candidate
                break
        code = code or (value or "").strip().upper()[:100]
        if code and code not in out:
            out.append(code)
    return out


def _postal_rules(values: Iterable[Any]) -> list[dict[str, str | None]]:
    """Staff's postal-code rules, normalised, as stored. Raises
    ValidationFailed naming ``postal_codes.N.<field>`` (every bad rule at once)."""
    rules: list[dict[str, str | None]] = []
    errors: dict[str, list[str]] = {}
    for n, value in enumerate(values):
        get = value.get if isinstance(value, dict) else (lambda k, v=value: getattr(v, k, None))
        start, end, prefix = (postal_code(get(k)) or None for k in ("start", "end", "prefix"))
        key = f"postal_codes.{n}"
        if prefix and (start or end):
            errors[f"{key}.prefix"] = ["Give a prefix or a start (and end), not both."]
        elif not prefix and not start:
            errors[f"{key}.start"] = ["Give a start code (with an optional end) or a prefix."]
        for name, code in (("start", start), ("end", end), ("prefix", prefix)):
            if code and not _POSTAL_CHARS.match(code):
                errors.setdefault(f"{key}.{name}", []).append(
                    "Letters, digits and hyphens only (spaces are removed), at most 20.")
        if start and end and f"{key}.end" not in errors:
            if len(end) != len(start):
                errors[f"{key}.end"] = [f'Must have as many characters as start ("{start}").']
            elif end < start:
                errors[f"{key}.end"] = [f'Must not come before start ("{start}").']
        rule = {"start": start, "end": end if end != start else None, "prefix": prefix}
        if rule not in rules:
            rules.append(rule)
    if errors:
        raise ValidationFailed(errors=errors)
    return rules


def zone_payload(zone: Zone, rates: list[Rate], method_names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": zone.id, "name": zone.name, "countries": list(zone.countries), "states": list(zone.states),
        "postal_codes": [r.payload() for r in zone.postal_codes], "postal_code_mode": zone.postal_code_mode,
        "free_shipping_threshold": money(zone.free_shipping_threshold)
        if zone.free_shipping_threshold is not None else None,
        "delivery_capacity": zone.delivery_capacity, "is_active": zone.is_active,
        "rates": [rate_payload(r, method_names) for r in rates if r.zone_id == zone.id],
    }


def rate_payload(rate: Rate, method_names: dict[int, str]) -> dict[str, Any]:
    return {"id": rate.id, "zone_id": rate.zone_id, "shipping_method_id": rate.shipping_method_id,
            "shipping_method_name": method_names.get(rate.shipping_method_id, ""), "basis": rate.basis,
            "min_value": rate.min_value, "max_value": rate.max_value, "price": money(rate.price)}


async def _method_names() -> dict[int, str]:
    return {r[0]: r[1] for r in await fetch_all("SELECT id, name FROM shipping_method")}


async def list_zones() -> list[dict[str, Any]]:
    """Every zone (active or not) with its rates, by name. Three queries."""
    zones = [Zone(*r) for r in await fetch_all(f"SELECT {_ZONE_COLUMNS} FROM shipping_zone ORDER BY name, id")]
    rates = [Rate(*r) for r in await fetch_all(
        f"SELECT {_RATE_COLUMNS} FROM shipping_rate ORDER BY zone_id, shipping_method_id, basis, min_value, id")]
    names = await _method_names()
    return [zone_payload(z, rates, names) for z in zones]


async def _zone(zone_id: int) -> Zone:
    if not 0 < zone_id <= 2**31 - 1:
        raise NotFound(ZONE_NOT_FOUND)
    row = await fetch_one(f"SELECT {_ZONE_COLUMNS} FROM shipping_zone WHERE id = %s", [zone_id])
    if row is None:
        raise NotFound(ZONE_NOT_FOUND)
    return Zone(*row)


async def get_zone(zone_id: int) -> dict[str, Any]:
    """One zone with its rates. Raises NotFound("Shipping zone not found")."""
    zone = await _zone(zone_id)
    rates = [Rate(*r) for r in await fetch_all(
        f"SELECT {_RATE_COLUMNS} FROM shipping_rate WHERE zone_id = %s "
        "ORDER BY zone_id, shipping_method_id, basis, min_value, id", [zone_id])]
    return zone_payload(zone, rates, await _method_names())


def _zone_fields(data: dict[str, Any], countries: list[str] | None) -> dict[str, Any]:
    fields = {k: data[k] for k in ("name", "free_shipping_threshold", "delivery_capacity", "is_active",
                                   "postal_code_mode") if k in data and data[k] is not None}
    fields.update({k: data[k] for k in ("free_shipping_threshold", "delivery_capacity") if k in data})
    if "postal_codes" in data:
        fields["postal_codes"] = _postal_rules(data["postal_codes"] or [])
    if "countries" in data:
        fields["countries"] = _countries(data["countries"])
    if "states" in data:
        fields["states"] = _states(fields.get("countries") or countries or [], data["states"] or [])
    return fields


async def create_zone(data: dict[str, Any]) -> dict[str, Any]:
    """A zone (staff). Raises ValidationFailed for unknown countries."""
    fields = _zone_fields(data, None)
    now = utcnow()
    zone = await ShippingZone.aio_create(**fields, created_at=now, updated_at=now)
    return await get_zone(zone.id)


async def update_zone(zone_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a zone's fields (staff). Raises NotFound, ValidationFailed."""
    async with transaction():
        zone = await _zone(zone_id)
        fields = _zone_fields(changes, zone.countries)
        if "countries" in fields and "states" not in fields:
            fields["states"] = _states(fields["countries"], zone.states)
        if fields:
            await ShippingZone.update(**fields, updated_at=utcnow()).where(ShippingZone.id == zone_id).aio_execute()
    return await get_zone(zone_id)


async def delete_zone(zone_id: int) -> None:
    """Delete a zone, its rates and its delivery slots (orders keep their
    delivery date; their zone reference is cleared). Raises NotFound."""
    await _zone(zone_id)
    await ShippingZone.delete().where(ShippingZone.id == zone_id).aio_execute()


# --- staff: rates -----------------------------------------------------------------------

def _check_band(basis: str, min_value: Decimal, max_value: Decimal | None) -> None:
    if basis not in BASES:
        raise ValidationFailed(errors={"basis": [f'"{basis}" is not a valid choice ({", ".join(BASES)}).']})
    if max_value is not None and max_value <= min_value:
        raise ValidationFailed(errors={"max_value": ["Must be greater than min_value (or null: no upper bound)."]})


async def _method_exists(method_id: int) -> None:
    if not 0 < method_id <= 2**31 - 1 or await fetch_one(
            "SELECT 1 FROM shipping_method WHERE id = %s", [method_id]) is None:
        raise ValidationFailed(errors={"shipping_method_id": [f'Invalid pk "{method_id}" - object does not exist.']})


async def create_rate(zone_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A rate band of a method in a zone (staff). Raises NotFound (zone), ValidationFailed."""
    await _zone(zone_id)
    await _method_exists(data["shipping_method_id"])
    _check_band(data["basis"], data.get("min_value") or Decimal(0), data.get("max_value"))
    try:
        rate = await ShippingRate.aio_create(zone=zone_id, shipping_method=data["shipping_method_id"],
                                             basis=data["basis"], min_value=data.get("min_value") or Decimal(0),
                                             max_value=data.get("max_value"), price=data["price"],
                                             created_at=utcnow())
    except peewee.IntegrityError:  # the zone or the method went meanwhile
        raise NotFound(ZONE_NOT_FOUND) from None
    return await get_rate(rate.id)


async def _rate(rate_id: int) -> Rate:
    if not 0 < rate_id <= 2**31 - 1:
        raise NotFound(RATE_NOT_FOUND)
    row = await fetch_one(f"SELECT {_RATE_COLUMNS} FROM shipping_rate WHERE id = %s", [rate_id])
    if row is None:
        raise NotFound(RATE_NOT_FOUND)
    return Rate(*row)


async def get_rate(rate_id: int) -> dict[str, Any]:
    return rate_payload(await _rate(rate_id), await _method_names())


async def update_rate(rate_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a rate band (staff). Raises NotFound, ValidationFailed."""
    async with transaction():
        rate = await _rate(rate_id)
        if "shipping_method_id" in changes:
            await _method_exists(changes["shipping_method_id"])
        basis = changes.get("basis", rate.basis)
        min_value = changes.get("min_value", rate.min_value)
        max_value = changes["max_value"] if "max_value" in changes else rate.max_value
        _check_band(basis, min_value if min_value is not None else Decimal(0), max_value)
        fields = {k: v for k, v in changes.items() if k in ("basis", "min_value", "max_value", "price")}
        if "shipping_method_id" in changes:
            fields["shipping_method"] = changes["shipping_method_id"]
        if fields.get("min_value", 0) is None:
            fields["min_value"] = Decimal(0)
        if fields:
            await ShippingRate.update(**fields).where(ShippingRate.id == rate_id).aio_execute()
    return await get_rate(rate_id)


async def delete_rate(rate_id: int) -> None:
    """Delete a rate band (staff). Raises NotFound."""
    await _rate(rate_id)
    await ShippingRate.delete().where(ShippingRate.id == rate_id).aio_execute()
