"""What a storefront developer meets reading only the docs: one vocabulary
(the names outputs use are accepted as input), nothing dropped silently,
bodies only as the media type the document states, only ASCII digits as
numbers, and one login error for every credential failure."""
from __future__ import annotations

import pytest

from tests.support.client import assert_envelope
from tests.support.factories import product

# --- only ASCII digits are numbers ------------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("quantity", ["\u0663", "\uff13", "1\u0660"])  # Arabic-Indic 3, fullwidth 3, "1٠"
async def test_a_quantity_in_other_scripts_digits_is_400(api, make_user, quantity):
    user = await make_user()
    pid = await product("Oak Chair", base_price="10.00", stock=50)
    resp = await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": quantity}, user=user)
    body = assert_envelope(resp, 400)
    assert body["errors"] == {"quantity": ["A valid integer is required."]}
    assert (await api.get("/api/cart/", user=user)).json()["items"] == []


@pytest.mark.gen_test
async def test_a_price_or_page_in_other_scripts_digits_is_refused(api, make_user):
    assert_envelope(await api.get("/api/products/", params={"min_price": "\u0665"}), 400)
    assert_envelope(await api.get("/api/products/", params={"page": "\u0661"}), 404)
    assert_envelope(await api.get("/api/products/", params={"page_size": "\u0661"}), 400)
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/promo-codes/", json={"code": "ARABIC", "discount_percentage": "\u0661\u0660"},
                          user=admin)
    assert_envelope(resp, 400)


# --- bodies are JSON where the document says JSON ---------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"])
async def test_a_json_body_sent_as_another_media_type_is_415(api, make_user, ctype):
    user = await make_user()
    pid = await product("Oak Chair", base_price="10.00", stock=50)
    resp = await api.post("/api/cart/add-item/", body=f'{{"product_id": {pid}, "quantity": 1}}'.encode(),
                          headers={"Content-Type": ctype}, user=user)
    body = assert_envelope(resp, 415)
    assert "Unsupported media type" in body["message"]
    assert (await api.get("/api/cart/", user=user)).json()["items"] == []


@pytest.mark.gen_test
async def test_json_media_types_are_read(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair", base_price="10.00", stock=50)
    for ctype in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json",
                  "Application/JSON"):
        resp = await api.post("/api/cart/add-item/", body=f'{{"product_id": {pid}}}'.encode(),
                              headers={"Content-Type": ctype}, user=user)
        assert resp.status == 201, (ctype, resp)


@pytest.mark.gen_test
async def test_multipart_uploads_stay_multipart(api, make_user):
    from tests.support.client import multipart

    user = await make_user()
    body, headers = multipart({"photo": ("me.txt", b"not an image", "text/plain")})
    resp = await api.post("/api/profile/upload_photo/", body=body, headers=headers, user=user)
    assert resp.status == 400, resp  # read as an upload (and refused as no image), not a 415


@pytest.mark.gen_test
async def test_the_document_lists_415_on_json_body_operations(api):
    doc = (await api.get("/api/schema/")).json()
    add_item = doc["paths"]["/api/cart/add-item/"]["post"]
    assert "415" in add_item["responses"]
    assert "415" not in doc["paths"]["/api/cart/"]["get"]["responses"]


# --- one login error ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_login_never_says_which_credential_was_wrong(api, make_user):
    await make_user(email="exists@example.com")
    unknown = await api.post("/api/auth/login/", json={"email": "nobody@example.com", "password": "whatever123"})
    wrong = await api.post("/api/auth/login/", json={"email": "exists@example.com", "password": "whatever123"})
    for resp in (unknown, wrong):
        body = assert_envelope(resp, 401, "Invalid credentials")
        assert body["errors"] == {"password": ["Invalid email or password."]}
    assert unknown.json() == wrong.json()


# --- inputs accept the names outputs use -------------------------------------------

@pytest.mark.gen_test
async def test_cart_lines_are_updated_and_removed_by_their_cart_item_id(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair", base_price="10.00", stock=50)
    resp = await api.post("/api/cart/add-item/", json={"product_id": pid}, user=user)
    line_id = resp.json()["cart_item"]["cart_item_id"]
    resp = await api.post("/api/cart/update-quantity/", json={"cart_item_id": line_id, "quantity": 3}, user=user)
    assert resp.status == 200, resp
    assert resp.json()["cart_item"]["quantity"] == 3
    resp = await api.post("/api/cart/update-quantity/",
                          json={"cart_item_id": line_id, "item_id": line_id + 1, "quantity": 2}, user=user)
    assert_envelope(resp, 400)
    resp = await api.post("/api/cart/remove-item/", json={"cart_item_id": line_id}, user=user)
    assert resp.status == 204, resp
    assert (await api.get("/api/cart/", user=user)).json()["items"] == []


@pytest.mark.gen_test
async def test_the_cart_total_has_one_name_in_both_views(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair", base_price="10.50", stock=50)
    await api.post("/api/cart/add-item/", json={"product_id": pid, "quantity": 2}, user=user)
    cart = (await api.get("/api/cart/", user=user)).json()
    summary = (await api.get("/api/cart/summary/", user=user)).json()
    assert cart["total"] == summary["total"] == summary["total_price"] == "21.00"


# --- nothing dropped silently ------------------------------------------------------------

@pytest.mark.gen_test
async def test_a_promo_code_with_fields_it_does_not_have_is_400_naming_them(api, make_user):
    from models.cart import PromoCode

    admin = await make_user(is_staff=True)
    resp = await api.post("/api/promo-codes/", user=admin, json={
        "code": "SPRING", "discount_percentage": "10.00", "valid_until": "2020-01-01T00:00:00Z", "max_uses": 1})
    body = assert_envelope(resp, 400)
    assert body["errors"] == {"valid_until": ["Unknown field."], "max_uses": ["Unknown field."]}
    assert not await PromoCode.select().where(PromoCode.code == "SPRING").aio_exists()


@pytest.mark.gen_test
async def test_a_review_sent_with_comment_instead_of_content_is_400(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair")
    resp = await api.post(f"/api/products/{pid}/reviews/", user=user, json={"rating": 5, "comment": "Lovely"})
    assert assert_envelope(resp, 400)["errors"]["comment"] == ["Unknown field."]
    assert (await api.get(f"/api/products/{pid}/reviews/")).json() == []


@pytest.mark.gen_test
async def test_a_ticket_with_an_order_id_it_cannot_keep_is_400(api, make_user):
    user = await make_user()
    resp = await api.post("/api/help/", user=user, json={"full_name": "Ada", "message": "Where is it?",
                                                          "order_id": 12})
    assert assert_envelope(resp, 400)["errors"] == {"order_id": ["Unknown field."]}
    assert (await api.get("/api/help/", user=user)).json() == []


@pytest.mark.gen_test
async def test_unknown_fields_in_nested_rows_and_hand_parsed_bodies_are_named(api, make_user):
    user = await make_user()
    admin = await make_user(is_staff=True)
    pid = await product("Oak Chair", stock=5)
    resp = await api.post("/api/orders/", user=user, json={"items": [{"product_id": pid, "quantity": 1,
                                                                       "colour": "red"}]})
    assert assert_envelope(resp, 400)["errors"] == {"items.0.colour": ["Unknown field."]}
    resp = await api.post("/api/dashboard/bulk_product_action/", user=admin,
                          json={"action": "feature", "product_ids": [pid], "notify": True})
    assert assert_envelope(resp, 400)["errors"] == {"notify": ["Unknown field."]}


@pytest.mark.gen_test
async def test_fields_the_specs_examples_send_are_accepted_and_documented_as_ignored(api, make_user):
    user = await make_user()
    pid = await product("Oak Chair", stock=5)
    resp = await api.post("/api/wishlist-items/", user=user, json={"product": pid})
    item = resp.json()["id"]
    resp = await api.post(f"/api/wishlist/move-to-cart/{item}/", user=user,
                          json={"wishlist_item_id": item, "quantity": 1})
    assert resp.status == 201, resp
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/products/", user=admin, json={
        "name": "New Awesome Chair", "sku": "CHR-NEW-001", "base_price": "199.99", "stock_quantity": 50,
        "main_image": None, "image_files": []})
    assert resp.status == 201, resp
    doc = (await api.get("/api/schema/")).json()
    schemas = doc["components"]["schemas"]
    assert schemas["MoveToCartIn"]["additionalProperties"] is False
    assert "ignored" in schemas["MoveToCartIn"]["properties"]["wishlist_item_id"]["description"]
    assert schemas["ProductIn"]["additionalProperties"] is False
    assert set(schemas["ProductIn"]["properties"]) >= {"main_image", "image_files"}


# --- one rounding ------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_one_average_is_the_same_figure_in_every_endpoint(api, make_user):
    """828.645 is 828.65 (half-up, once), in the dashboard's order metrics and the orders' status tabs."""
    from tests.support.factories import make_order

    admin = await make_user(is_staff=True)
    await make_order(total="828.64", status="PENDING")
    await make_order(total="828.65", status="PENDING")
    metrics = (await api.get("/api/dashboard/order_metrics/", params={"period": "month"}, user=admin)).json()
    tabs = (await api.get("/api/orders/status_counts/", user=admin)).json()
    assert metrics["status_summary"]["all"]["avg_order_value"] == 828.65
    assert metrics["status_summary"]["pending"]["avg_order_value"] == 828.65
    assert tabs["all"]["avg_order_value"] == tabs["pending"]["avg_order_value"] == 828.65


def test_average_rounds_the_exact_quotient_half_up_once():
    from decimal import Decimal

    from models.core.db import average

    assert average(Decimal("1657.29"), 2) == Decimal("828.65")
    assert average("0.05", 2) == Decimal("0.03")
    assert average(Decimal("10"), 0) == Decimal("0.00")


# --- one set of period names ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_every_dashboard_operation_takes_every_period_name(api, make_user):
    from tests.support.factories import make_order

    admin = await make_user(is_staff=True)
    await make_order(total="10.00", status="DELIVERED", payment_status="PAID")
    d = "/api/dashboard/"
    for week, alias in (("week", "last_7_days"), ("month", "last_30_days")):
        for name in ("order_metrics", "customer_metrics", "sales_trend", "cart_metrics", "dashboard_summary"):
            a = (await api.get(d + name + "/", params={"period": week}, user=admin)).json()
            b = await api.get(d + name + "/", params={"period": alias}, user=admin)
            assert b.status == 200, (name, b)
            assert str(a).replace(f"'{week}'", "P") == str(b.json()).replace(f"'{alias}'", "P"), name
        chart_a = (await api.get(d + "summary-chart-data/", params={"metric": "orders_count", "period": week},
                                 user=admin)).json()
        chart_b = (await api.get(d + "summary-chart-data/", params={"metric": "orders_count", "period": alias},
                                 user=admin)).json()
        assert chart_a == chart_b and len(chart_a["chart_data"]) == (7 if week == "week" else 30)
    resp = await api.get(d + "order_metrics/", params={"period": "this_month"}, user=admin)
    assert resp.status == 200 and resp.json()["data"]["total_orders"] == 1
    doc = (await api.get("/api/schema/")).json()
    for path in ("/api/dashboard/order_metrics/", "/api/dashboard/summary-chart-data/"):
        [param] = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "period"]
        assert {"week", "last_7_days", "this_month"} <= set(param["schema"]["enum"]), path


def test_rates_and_growth_round_half_up_once_like_money():
    """Python's round() gives 0.12 for 1/8 and 0.2 for a growth of 0.25 %: not the project's rule."""
    from models.core.db import ratio
    from models.dashboard import metrics

    assert ratio(1, 8, 2) == 0.13
    assert metrics.growth(401, 400) == 0.3
    assert metrics._rate(1, 7, 4) == 0.125 and metrics._rate(1, 7, 1, scale=100) == 12.5
