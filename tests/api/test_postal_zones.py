"""Shipping zones narrowed by postal code (issue 22 leftovers): prefix and
range rules in include or exclude mode, codes compared normalised, the most
specific zone chosen (postal code > state > country, ties by id) by the quote,
the delivery slots and checkout; staff's bad rules are a 400 naming the rule's
field, and nothing is written."""
from __future__ import annotations

import datetime as dt

import pytest

from models import cart
from models.core.db import fetch_one, utcnow
from models.shipping import Destination, PostalRule
from models.shipping.zones import Rules, Zone, postal_code
from tests.api.test_shipping_zones import method, rate, zone
from tests.support.client import assert_envelope
from tests.support.factories import count, product

NYC = [{"start": "10000", "end": "10499"}]  # Manhattan, Staten Island, the Bronx, ... (100xx-104xx)
NYC_ADDRESS = {"full_name": "Ada Buyer", "street_address": "350 5th Ave", "city": "New York", "state": "NY",
               "country": "US", "zip_code": "10118"}
ALBANY_ADDRESS = {**NYC_ADDRESS, "street_address": "1 State St", "city": "Albany", "zip_code": "12207"}


def test_rules_match_normalised_codes_prefixes_ranges_and_single_codes():
    assert postal_code(" sw1a 1aa ") == "SW1A1AA" and postal_code(None) == ""
    r = PostalRule(start="10000", end="10499")
    assert r.matches("10000") and r.matches("10499") and r.matches("10118")
    assert r.matches("10001-1234")  # ZIP+4: the first five characters are compared
    assert not r.matches("10500") and not r.matches("09999") and not r.matches("1000") and not r.matches("")
    assert PostalRule(prefix="SW1").matches("SW1A1AA") and not PostalRule(prefix="SW1").matches("SW2A")
    one = PostalRule(start="94103")
    assert one.matches("94103") and not one.matches("94104")
    canada = PostalRule(start="H1A", end="H9Z")  # Montreal's forward sortation areas
    assert canada.matches("H2X1Y4") and not canada.matches("J4B1A1")


def test_most_specific_zone_wins_postal_over_state_over_country_ties_by_id():
    us = Zone(1, "US", ["US"], [], None, None)
    ny = Zone(2, "New York", ["US"], ["US-NY"], None, None)
    nyc = Zone(3, "New York City", ["US"], [], None, 2, postal_codes=NYC)
    nyc_twin = Zone(9, "NYC (later)", ["US"], [], None, None, postal_codes=[{"prefix": "101"}])
    rules = Rules([us, nyc_twin, ny, nyc], [])
    assert rules.zone_for(Destination.of("US", "NY", "10118")) is nyc
    assert rules.zone_for(Destination.of("US", "New York", "101 18")) is nyc  # both match: the lower id
    assert rules.zone_for(Destination.of("US", "NY", "12207")) is ny
    assert rules.zone_for(Destination.of("US", "NY")) is ny  # no code: include rules match nothing
    assert rules.zone_for(Destination.of("US", "TX", "73301")) is us
    assert rules.zone_for(Destination.of("US", "NJ", "10118")) is nyc  # the zone names no states
    # exclude mode: every code but those; an address without a code passes; before a plain zone of its level
    mainland = Zone(4, "US mainland", ["US"], [], None, None, postal_codes=[{"prefix": "995"}, {"prefix": "967"}],
                    postal_code_mode="exclude")
    rules = Rules([us, mainland], [])
    assert rules.zone_for(Destination.of("US", "TX", "73301")) is mainland
    assert rules.zone_for(Destination.of("US", "AK", "99501")) is us
    assert rules.zone_for(Destination.of("US", "TX")) is mainland


@pytest.mark.gen_test(timeout=60)
async def test_quote_slots_and_checkout_use_the_nyc_zone_for_a_nyc_zip(api, make_user, count_queries):
    admin, shopper = await make_user(is_staff=True), await make_user()
    std = await method(api, admin, "Standard", "4.99")
    glove = await method(api, admin, "White Glove", "99.00", days=7, bulky=True)
    us = await zone(api, admin, name="US", countries=["US"])
    ny = await zone(api, admin, name="New York", countries=["US"], states=["NY"])
    nyc = await zone(api, admin, name="New York City", countries=["US"], postal_codes=NYC, delivery_capacity=3)
    assert nyc["postal_codes"] == [{"start": "10000", "end": "10499", "prefix": None}]
    assert nyc["postal_code_mode"] == "include" and us["postal_codes"] == []
    for z, price in ((us, "15.00"), (ny, "11.00"), (nyc, "7.00")):
        await rate(api, admin, z["id"], std, "subtotal", "0", None, price)
        await rate(api, admin, z["id"], glove, "subtotal", "0", None, "99.00")
    lamp = await product("Lamp", base_price="40.00", stock=5)
    await cart.add_item(shopper.id, lamp, 1)
    with count_queries() as queries:
        city = await api.post("/api/shipping/quote/", json={"country": "US", "state": "NY", "zip_code": "10118"},
                              user=shopper)
    assert city.status == 200, city
    assert len(queries) <= 8
    body = city.json()
    assert body["zone"]["name"] == "New York City" and body["postal_code"] == "10118"
    assert [(m["id"], m["price"]) for m in body["methods"]] == [(std, "7.00"), (glove, "99.00")]
    upstate = (await api.post("/api/shipping/quote/", json={"country": "US", "state": "NY", "zip_code": "12207"},
                              user=shopper)).json()
    assert upstate["zone"]["name"] == "New York" and upstate["methods"][0]["price"] == "11.00"
    spaced = (await api.post("/api/shipping/quote/", json={"country": "US", "state": "NY", "zip_code": " 104 51"},
                             user=shopper)).json()
    assert spaced["zone"]["name"] == "New York City" and spaced["postal_code"] == "10451"
    texas = (await api.post("/api/shipping/quote/", json={"country": "US", "state": "TX", "zip_code": "73301"},
                            user=shopper)).json()
    assert texas["zone"]["name"] == "US" and texas["methods"][0]["price"] == "15.00"
    # a saved address's zip code counts too
    saved = await api.post("/api/addresses/", json={"full_name": "Ada", "street_address": "350 5th Ave",
                                                    "city": "New York", "state": "NY", "country": "US",
                                                    "zip_code": "10118", "phone_number": "+12125550100",
                                                    "email": "ada@example.com"},
                           user=shopper)
    assert saved.status == 201, saved
    by_address = (await api.post("/api/shipping/quote/", json={"address_id": saved.json()["id"]},
                                 user=shopper)).json()
    assert by_address["zone"]["name"] == "New York City"

    # checkout charges the zone of the delivery address's zip code
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std,
                                                           "shipping_address": NYC_ADDRESS}, user=shopper)
    assert init.status == 200 and init.json()["shipping_cost"] == "7.00", init
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std,
                                                           "shipping_address": ALBANY_ADDRESS}, user=shopper)
    assert init.status == 200 and init.json()["shipping_cost"] == "11.00", init

    # slots: only the NYC zone schedules deliveries
    sofa = await product("Sofa", base_price="800.00", stock=5, is_bulky=True)
    await cart.add_item(shopper.id, sofa, 1)
    slots = (await api.get("/api/shipping/slots/?country=US&state=NY&zip_code=10118", user=shopper)).json()
    assert slots["zone"]["name"] == "New York City" and slots["dates"][0]["remaining"] == 3
    upstate_slots = (await api.get("/api/shipping/slots/?country=US&state=NY&zip_code=12207", user=shopper)).json()
    assert upstate_slots["zone"]["name"] == "New York" and upstate_slots["dates"] == []
    day = (utcnow().date() + dt.timedelta(days=2)).isoformat()
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "delivery_date": day,
                                                           "shipping_address": NYC_ADDRESS}, user=shopper)
    assert init.status == 200 and init.json()["delivery_date"] == day, init
    refused = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "delivery_date": day,
                                                              "shipping_address": ALBANY_ADDRESS}, user=shopper)
    assert "delivery_date" in assert_envelope(refused, 400)["errors"]  # upstate takes no date


@pytest.mark.gen_test
async def test_bad_postal_rules_are_400_naming_the_field_and_nothing_is_written(api, make_user):
    admin = await make_user(is_staff=True)
    base = {"name": "NYC", "countries": ["US"]}
    cases = [
        ([{"start": "10499", "end": "10000"}], "postal_codes.0.end"),
        ([{"start": "100", "end": "10499"}], "postal_codes.0.end"),
        ([{"prefix": "100"}, {"prefix": "101", "start": "10100"}], "postal_codes.1.prefix"),
        ([{"end": "10499"}], "postal_codes.0.start"),
        ([{}], "postal_codes.0.start"),
        ([{"prefix": "10*"}], "postal_codes.0.prefix"),
        ([{"start": "1" * 21}], "postal_codes.0.start"),
    ]
    for rules, field in cases:
        resp = await api.post("/api/shipping-zones/", json={**base, "postal_codes": rules}, user=admin)
        assert field in assert_envelope(resp, 400)["errors"], (rules, resp.json())
    for bad, field in [({"postal_code_mode": "sometimes"}, "postal_code_mode"),
                       ({"postal_codes": "10000"}, "postal_codes"),
                       ({"postal_codes": [{"start": "10000", "colour": "red"}]}, "postal_codes.0.colour")]:
        resp = await api.post("/api/shipping-zones/", json={**base, **bad}, user=admin)
        assert field in assert_envelope(resp, 400)["errors"], (bad, resp.json())
    assert await count("shipping_zone") == 0
    created = await zone(api, admin, **base, postal_codes=[{"prefix": "  100 "}, {"start": "10100", "end": "10100"},
                                                           {"prefix": "100"}], postal_code_mode="exclude")
    assert created["postal_codes"] == [{"start": None, "end": None, "prefix": "100"},
                                       {"start": "10100", "end": None, "prefix": None}]
    zid = created["id"]
    bad = await api.patch(f"/api/shipping-zones/{zid}/", json={"name": "Renamed",
                                                               "postal_codes": [{"start": "B", "prefix": "C"}]},
                          user=admin)
    assert "postal_codes.0.prefix" in assert_envelope(bad, 400)["errors"]
    row = await fetch_one("SELECT name, postal_codes, postal_code_mode FROM shipping_zone WHERE id = %s", [zid])
    assert row[0] == "NYC" and len(row[1]) == 2 and row[2] == "exclude"
    reverse = await api.patch(f"/api/shipping-zones/{zid}/", json={"postal_codes": [{"start": "2", "end": "1"}]},
                              user=admin)
    assert "postal_codes.0.end" in assert_envelope(reverse, 400)["errors"]
    cleared = await api.patch(f"/api/shipping-zones/{zid}/", json={"postal_codes": [], "postal_code_mode": "include"},
                              user=admin)
    assert cleared.status == 200 and cleared.json()["postal_codes"] == []
