"""Shipping zones and rates: staff CRUD; methods offered and priced by
destination, weight, volume and subtotal; the free-shipping threshold; bulky
items only with methods that handle them; checkout charges the zone's price."""
from __future__ import annotations

from decimal import Decimal

import pytest

from models import cart
from models.core.db import fetch_one
from models.shipping import Destination, Parcel
from models.shipping.zones import Rate, Rules, Zone, state_code
from tests.support.client import assert_envelope
from tests.support.factories import product

US_ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Market Street", "city": "San Francisco",
              "state": "California", "country": "US", "zip_code": "94103"}
NG_ADDRESS = {"full_name": "Ada Buyer", "street_address": "1 Marina", "city": "Lagos", "state": "Lagos",
              "country": "NG", "zip_code": "100001"}


async def method(api, admin, name, price="4.99", days=5, bulky=False) -> int:
    resp = await api.post("/api/shipping-methods/", json={"name": name, "price": price, "estimated_days": days,
                                                          "handles_bulky": bulky}, user=admin)
    assert resp.status == 201, resp
    return resp.json()["id"]


async def zone(api, admin, **body) -> dict:
    resp = await api.post("/api/shipping-zones/", json=body, user=admin)
    assert resp.status == 201, resp
    return resp.json()


async def rate(api, admin, zone_id, method_id, basis, lo, hi, price) -> dict:
    resp = await api.post(f"/api/shipping-zones/{zone_id}/rates/", json={
        "shipping_method_id": method_id, "basis": basis, "min_value": lo, "max_value": hi, "price": price},
        user=admin)
    assert resp.status == 201, resp
    return resp.json()


def test_price_rule_bands_highest_basis_threshold_and_bulky():
    us = Zone(1, "US", ["US"], [], Decimal("500.00"), None)
    ca = Zone(2, "California", ["US"], ["US-CA"], None, 3)
    rates = [Rate(1, 1, 10, "weight", Decimal(0), Decimal(10), Decimal("5.00")),
             Rate(2, 1, 10, "weight", Decimal(10), Decimal(50), Decimal("15.00")),
             Rate(3, 1, 10, "volume", Decimal(0), Decimal("0.5"), Decimal("8.00")),
             Rate(4, 2, 10, "subtotal", Decimal(0), None, Decimal("3.00"))]
    rules = Rules([ca, us], rates)

    class M:
        def __init__(self, id, price, bulky=False):
            self.id, self.price, self.handles_bulky = id, Decimal(price), bulky

    std, flat, glove = M(10, "99.00"), M(11, "7.50"), M(12, "49.00", bulky=True)
    assert rules.zone_for(Destination("US", "US-CA")) is ca
    assert rules.zone_for(Destination("US", "US-NY")) is us
    assert rules.zone_for(Destination("FR")) is None
    light = Parcel(weight=Decimal(2), volume=Decimal("0.1"), goods=Decimal("50.00"))
    assert rules.price_for(std, us, light) == Decimal("8.00")  # the greater of weight 5.00 and volume 8.00
    heavy = Parcel(weight=Decimal(20), volume=Decimal("0.1"), goods=Decimal("50.00"))
    assert rules.price_for(std, us, heavy) == Decimal("15.00")
    assert rules.price_for(std, us, Parcel(weight=Decimal(60), goods=Decimal(1))) is None  # beyond every band
    assert rules.price_for(std, us, Parcel(volume=Decimal(1), goods=Decimal(1))) is None
    assert rules.price_for(std, None, light) is None  # rated methods need a zone
    assert rules.price_for(flat, None, light) == Decimal("7.50")  # unrated: flat everywhere
    assert rules.price_for(std, ca, light) == Decimal("3.00")
    rich = Parcel(weight=Decimal(2), goods=Decimal("500.00"))
    assert rules.price_for(std, us, rich) == Decimal("0.00") and rules.price_for(flat, us, rich) == Decimal("0.00")
    assert rules.price_for(glove, us, rich) == Decimal("49.00")  # white glove is never free
    sofa = Parcel(weight=Decimal(2), goods=Decimal(10), bulky=True)
    assert rules.price_for(std, us, sofa) is None and rules.price_for(glove, us, sofa) == Decimal("49.00")
    assert state_code("US", "california") == state_code("US", "CA") == state_code("US", "us-ca") == "US-CA"
    assert state_code("XX", "Somewhere") == "SOMEWHERE"


@pytest.mark.gen_test
async def test_zone_and_rate_crud_is_staff_only(api, make_user):
    admin, shopper = await make_user(is_staff=True), await make_user()
    std = await method(api, admin, "Standard")
    body = {"name": "North America", "countries": ["us", "Canada"], "states": [], "free_shipping_threshold": "999.00"}
    assert_envelope(await api.post("/api/shipping-zones/", json=body, user=shopper), 403)
    assert_envelope(await api.get("/api/shipping-zones/"), 401)
    created = await zone(api, admin, **body)
    assert created["countries"] == ["US", "CA"] and created["free_shipping_threshold"] == "999.00"
    assert created["delivery_capacity"] is None and created["rates"] == []
    zid = created["id"]
    band = await rate(api, admin, zid, std, "weight", "0", "30", "9.99")
    assert band["min_value"] == "0.000" and band["max_value"] == "30.000" and band["shipping_method_name"] == "Standard"
    got = (await api.get(f"/api/shipping-zones/{zid}/", user=admin)).json()
    assert [r["id"] for r in got["rates"]] == [band["id"]]
    patched = await api.patch(f"/api/shipping-zones/{zid}/", json={"states": ["California", "NY"],
                                                                   "delivery_capacity": 4}, user=admin)
    assert patched.status == 200 and patched.json()["states"] == ["US-CA", "US-NY"]
    assert patched.json()["delivery_capacity"] == 4
    changed = await api.patch(f"/api/shipping-rates/{band['id']}/", json={"price": "12.50", "max_value": None},
                              user=admin)
    assert changed.status == 200 and changed.json()["price"] == "12.50" and changed.json()["max_value"] is None
    for bad, field in [({"countries": ["Atlantis"]}, "countries"), ({"countries": []}, "countries")]:
        assert field in assert_envelope(await api.patch(f"/api/shipping-zones/{zid}/", json=bad, user=admin),
                                        400)["errors"]
    bad_band = await api.post(f"/api/shipping-zones/{zid}/rates/", json={
        "shipping_method_id": std, "basis": "weight", "min_value": "5", "max_value": "5", "price": "1"}, user=admin)
    assert "max_value" in assert_envelope(bad_band, 400)["errors"]
    no_method = await api.post(f"/api/shipping-zones/{zid}/rates/", json={
        "shipping_method_id": 99999, "basis": "weight", "price": "1"}, user=admin)
    assert "shipping_method_id" in assert_envelope(no_method, 400)["errors"]
    assert len((await api.get("/api/shipping-zones/", user=admin)).json()) == 1
    assert (await api.delete(f"/api/shipping-rates/{band['id']}/", user=admin)).status == 204
    assert_envelope(await api.get(f"/api/shipping-rates/{band['id']}/", user=admin), 404, "Shipping rate not found")
    assert (await api.delete(f"/api/shipping-zones/{zid}/", user=admin)).status == 204
    assert_envelope(await api.get(f"/api/shipping-zones/{zid}/", user=admin), 404, "Shipping zone not found")


@pytest.mark.gen_test(timeout=60)
async def test_quote_offers_the_methods_that_deliver_there_and_checkout_charges_it(api, make_user, count_queries):
    admin, shopper = await make_user(is_staff=True), await make_user()
    flat = await method(api, admin, "Pickup point", "6.00")
    std = await method(api, admin, "Standard", "4.99")
    us = await zone(api, admin, name="US", countries=["US"], free_shipping_threshold="1000.00")
    await rate(api, admin, us["id"], std, "weight", "0", "20", "12.00")
    await rate(api, admin, us["id"], std, "weight", "20", "100", "45.00")
    await rate(api, admin, us["id"], std, "volume", "0", "2", "10.00")
    chair = await product("Oak Chair", base_price="150.00", stock=10, weight=Decimal("8.00"), length=Decimal(50),
                          width=Decimal(50), height=Decimal(100))  # 8 kg, 0.25 m3
    await cart.add_item(shopper.id, chair, 3)  # 24 kg
    with count_queries() as queries:
        resp = await api.post("/api/shipping/quote/", json={"country": "United States", "state": "CA"}, user=shopper)
    assert resp.status == 200, resp
    assert len(queries) <= 8
    body = resp.json()
    assert body["country"] == "US" and body["state"] == "US-CA" and body["zone"]["name"] == "US"
    assert body["weight_kg"] == "24.000" and body["volume_m3"] == "0.750" and body["goods_total"] == "450.00"
    assert body["amount_to_free_shipping"] == "550.00"
    assert [(m["id"], m["price"]) for m in body["methods"]] == [(flat, "6.00"), (std, "45.00")]
    # outside every zone: only the flat method
    ng = (await api.post("/api/shipping/quote/", json={"country": "NG"}, user=shopper)).json()
    assert ng["zone"] is None and [m["id"] for m in ng["methods"]] == [flat]
    assert "country" in assert_envelope(await api.post("/api/shipping/quote/", json={}, user=shopper), 400)["errors"]
    assert_envelope(await api.post("/api/shipping/quote/", json={"address_id": 999}, user=shopper), 400)
    assert_envelope(await api.post("/api/shipping/quote/", json={"country": "US"}), 401)

    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std, "shipping_address": US_ADDRESS},
                          user=shopper)
    assert init.status == 200, init
    assert init.json()["shipping_cost"] == "45.00" and init.json()["total"] == "495.00"
    assert init.json()["shipping_method"]["price"] == "45.00"
    refused = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std,
                                                              "shipping_address": NG_ADDRESS}, user=shopper)
    body = assert_envelope(refused, 400, "Invalid shipping method or payment method")
    assert "does not deliver" in body["errors"]["shipping_method_id"][0]
    assert (await api.post("/api/checkout/initiate/", json={"shipping_method_id": std,
                                                            "shipping_address": US_ADDRESS}, user=shopper)).status == 200
    paid = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=shopper)
    assert paid.status == 200, paid
    order = await fetch_one("SELECT shipping_cost, total FROM orders WHERE id = %s", [paid.json()["order_id"]])
    assert order == (Decimal("45.00"), Decimal("495.00"))


@pytest.mark.gen_test(timeout=60)
async def test_free_shipping_threshold_and_a_rate_change_before_payment_is_a_409(api, make_user):
    admin, shopper = await make_user(is_staff=True), await make_user()
    std = await method(api, admin, "Standard", "4.99")
    us = await zone(api, admin, name="US", countries=["US"], free_shipping_threshold="300.00")
    band = await rate(api, admin, us["id"], std, "subtotal", "0", None, "19.00")
    table = await product("Table", base_price="320.00", stock=5)
    lamp = await product("Lamp", base_price="40.00", stock=5)
    await cart.add_item(shopper.id, lamp, 1)
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std, "shipping_address": US_ADDRESS},
                          user=shopper)
    assert init.json()["shipping_cost"] == "19.00"
    await api.patch(f"/api/shipping-rates/{band['id']}/", json={"price": "25.00"}, user=admin)
    conflict = await api.post("/api/checkout/payment/", json={"payment_method_id": "pm_card_visa"}, user=shopper)
    assert conflict.status == 409 and conflict.json()["quote"]["shipping_cost"] == "25.00"
    await cart.add_item(shopper.id, table, 1)
    init = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std, "shipping_address": US_ADDRESS},
                          user=shopper)
    assert init.json()["shipping_cost"] == "0.00" and init.json()["total"] == "360.00"


@pytest.mark.gen_test(timeout=60)
async def test_bulky_items_ship_only_with_methods_that_handle_them(api, make_user):
    admin, shopper = await make_user(is_staff=True), await make_user()
    std = await method(api, admin, "Standard", "4.99")
    glove = await method(api, admin, "White Glove", "149.00", days=10, bulky=True)
    sofa = await product("Sofa", base_price="900.00", stock=3, is_bulky=True)
    await cart.add_item(shopper.id, sofa, 1)
    body = (await api.post("/api/shipping/quote/", json={"country": "US"}, user=shopper)).json()
    assert body["bulky"] is True and [m["id"] for m in body["methods"]] == [glove]
    assert body["methods"][0]["requires_delivery_date"] is False  # no zone schedules deliveries here
    refused = await api.post("/api/checkout/initiate/", json={"shipping_method_id": std,
                                                              "shipping_address": US_ADDRESS}, user=shopper)
    assert_envelope(refused, 400)
    ok = await api.post("/api/checkout/initiate/", json={"shipping_method_id": glove, "shipping_address": US_ADDRESS},
                        user=shopper)
    assert ok.status == 200 and ok.json()["shipping_cost"] == "149.00" and ok.json()["delivery_date"] is None
