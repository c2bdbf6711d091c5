"""Odd input never reaches PostgreSQL as a 500: NUL characters are a field
error wherever they come from; authentication and roles are decided before a
body is read; PUT needs its body; every message is in the API's own voice."""
from __future__ import annotations

import pytest

from tests.support.client import assert_envelope, multipart

NUL = "Null characters are not allowed."


@pytest.mark.gen_test
async def test_nul_in_a_json_string_is_a_field_error(api, make_user):
    user = await make_user()
    resp = await api.patch("/api/profile/update-details/", json={"full_name": "A\u0000"}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"full_name": [NUL]}
    resp = await api.post("/api/register/", json={"email": "a@example.com", "password": "pass\u0000word1"})
    assert assert_envelope(resp, 400)["errors"] == {"password": [NUL]}
    resp = await api.post("/api/addresses/", json={"full_name": "Ada", "email": "a@example.com",
                                                   "phone_number": "+2348012345678", "street_address": "1\u0000",
                                                   "city": "Lagos", "state": "Lagos", "country": "NG",
                                                   "zip_code": "100001"}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"street_address": [NUL]}


@pytest.mark.gen_test
async def test_nul_in_nested_json_is_keyed_by_its_path(api, make_user):
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/products/", user=admin, json={
        "name": "Chair", "sku": "CH-1", "price": "10", "variations": [{"sku": "V\u0000"}]})
    assert assert_envelope(resp, 400)["errors"] == {"variations.0.sku": [NUL]}


@pytest.mark.gen_test
async def test_unknown_fields_with_nul_are_400_not_500(api):
    resp = await api.post("/api/forgot-password/", json={"email": "nobody@example.com", "x\u0000": "\u0000"})
    assert_envelope(resp, 400)


@pytest.mark.gen_test
async def test_nul_in_query_string_path_and_export_is_400_not_500(api, make_user):
    admin = await make_user(is_staff=True)
    for path in ("/api/products/search/?q=%00", "/api/products/?search=a%00b",
                 "/api/products/export/?search=%00", "/api/dashboard/export_products/?tab=%00"):
        resp = await api.get(path, user=admin)
        assert assert_envelope(resp, 400)["errors"], (path, resp)
    resp = await api.get("/api/verify-email/%00/abc/")
    assert assert_envelope(resp, 400)["errors"] == {"token": [NUL]}


@pytest.mark.gen_test
async def test_nul_in_form_field_and_file_name_is_400(api, make_user):
    user = await make_user()
    boundary = "----b"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    encoded_name = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; "
                    f"filename*=UTF-8''me%00.png\r\nContent-Type: image/png\r\n\r\nxx\r\n--{boundary}--\r\n")
    resp = await api.post("/api/profile/upload_photo/", body=encoded_name.encode(), headers=headers, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"photo": [NUL]}
    field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\na\x00b\r\n--{boundary}--\r\n")
    resp = await api.post("/api/profile/upload_photo/", body=field.encode(), headers=headers, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"note": [NUL]}
    resp = await api.post("/api/profile/upload_photo/", body=b"note=a%00b", user=user,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert assert_envelope(resp, 400)["errors"] == {"note": [NUL]}
    raw_name = multipart({"photo": ("me\u0000.png", b"x", "image/png")})
    resp = await api.post("/api/profile/upload_photo/", body=raw_name[0], headers=raw_name[1], user=user)
    assert assert_envelope(resp, 400)["errors"]  # a NUL in a part header: the form cannot be read


@pytest.mark.gen_test
async def test_huge_ids_are_404_not_500(api, make_user):
    admin = await make_user(is_staff=True)
    assert (await api.get("/api/products/99999999999999999999/")).status == 404
    resp = await api.post("/api/products/record-view/", json={"product_id": 99999999999}, user=admin)
    assert assert_envelope(resp, 400)["errors"]["product_id"]


BAD_MULTIPART = {"Content-Type": "multipart/form-data; boundary=nope"}


@pytest.mark.gen_test
async def test_malformed_upload_by_anonymous_caller_is_401(api):
    resp = await api.post("/api/profile/upload_photo/", body=b"--garbage", headers=BAD_MULTIPART)
    assert_envelope(resp, 401)
    resp = await api.post("/api/products/1/upload-image/", body=b"--garbage", headers=BAD_MULTIPART)
    assert_envelope(resp, 401)


@pytest.mark.gen_test
async def test_malformed_admin_upload_by_customer_is_403(api, make_user):
    customer = await make_user()
    resp = await api.post("/api/products/1/upload-image/", body=b"--garbage", headers=BAD_MULTIPART, user=customer)
    assert_envelope(resp, 403)


@pytest.mark.gen_test
async def test_malformed_upload_by_the_right_caller_is_400(api, make_user):
    customer = await make_user()
    resp = await api.post("/api/profile/upload_photo/", body=b"--garbage", headers=BAD_MULTIPART, user=customer)
    assert assert_envelope(resp, 400)["errors"]


@pytest.mark.gen_test
async def test_put_and_patch_need_a_body(api, make_user):
    user = await make_user()
    for method in ("PUT", "PATCH"):
        resp = await api.request(method, "/api/profile/update-details/", user=user)
        assert assert_envelope(resp, 400)["errors"] == {"non_field_errors": ["No data provided."]}


@pytest.mark.gen_test
async def test_country_code_is_checked_even_without_a_phone_number(api, make_user):
    user = await make_user()
    resp = await api.patch("/api/profile/update-details/", json={"phone_number": None, "country_code": "abc"},
                           user=user)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors == {"country_code": ["Enter a valid country calling code, such as +234."]}
    resp = await api.patch("/api/profile/update-details/", json={"phone_number": None, "country_code": "234"},
                           user=user)
    assert resp.status == 200 and resp.json()["country_code"] == "+234", resp


@pytest.mark.gen_test
async def test_messages_speak_in_the_api_voice(api, make_user):
    user = await make_user()
    resp = await api.post("/api/products/1/reviews/", json={"rating": 5, "tag_ids": list(range(1, 30))}, user=user)
    errors = assert_envelope(resp, 400)["errors"]
    assert errors == {"tag_ids": ["Ensure this field has no more than 20 elements."]}
    resp = await api.post("/api/addresses/", json={"is_default": "maybe"}, user=user)
    assert assert_envelope(resp, 400)["errors"]["is_default"] == ["Must be a valid boolean."]
    text = resp.text + (await api.get("/api/products/?in_stock=maybe")).text
    assert "Input should" not in text and "after validation" not in text


@pytest.mark.gen_test
async def test_errors_are_keyed_by_the_field_the_client_sent(api, make_user):
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/products/", json={"name": "Chair", "sku": "CH-1", "price": "ten"}, user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"price": ["A valid number is required."]}
    resp = await api.post("/api/products/", json={"name": "Chair", "sku": "CH-1", "base_price": "ten"}, user=admin)
    assert assert_envelope(resp, 400)["errors"] == {"base_price": ["A valid number is required."]}
    resp = await api.post("/api/products/", json={"name": "Chair", "sku": "CH-1", "price": "12.50"}, user=admin)
    assert resp.status == 201 and resp.json()["base_price"] == "12.50", resp


@pytest.mark.gen_test
async def test_a_json_float_price_is_rounded_half_up_to_the_cent(api, make_user):
    admin = await make_user(is_staff=True)
    resp = await api.post("/api/products/", json={"name": "Chair", "sku": "CH-2", "price": 0.5700000000000001},
                          user=admin)
    assert resp.status == 201 and resp.json()["base_price"] == "0.57", resp
    resp = await api.post("/api/products/", json={"name": "Chair", "sku": "CH-3", "price": "0.571"}, user=admin)
    assert assert_envelope(resp, 400)["errors"]["price"]


@pytest.mark.gen_test
async def test_a_number_sent_for_text_is_a_field_error_as_the_document_types_text(api, make_user):
    """Text is typed ``string`` in the document (a generated client sends one type),
    so a number for a text field is refused, not silently stored as its digits."""
    user = await make_user()
    resp = await api.post("/api/support/submit/", json={"subject": 12345, "message": "Hello"}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"subject": ["Not a valid string."]}
    resp = await api.patch("/api/profile/update-details/", json={"full_name": 7}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"full_name": ["Not a valid string."]}
    resp = await api.post("/api/support/submit/", json={"subject": "Order 12345", "message": "Hello"}, user=user)
    assert resp.status == 201, resp
