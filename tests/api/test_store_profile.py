"""The signed-in user's profile: read, update, details, photo upload and removal."""
from __future__ import annotations

import io
import os

import pytest

import settings
from models.accounts.tables import Customer, Profile, User
from tests.support.client import assert_envelope, multipart


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def big_png_bytes() -> bytes:
    """A real PNG above 2 MB (noise does not compress)."""
    from PIL import Image

    side = 1000
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buf, format="PNG", compress_level=0)
    data = buf.getvalue()
    assert len(data) > 2 * 1024 * 1024
    return data


async def upload(api, user, data: bytes, filename="me.png", ctype="image/png", field="photo"):
    body, headers = multipart({field: (filename, data, ctype)})
    return await api.post("/api/profile/upload_photo/", body=body, headers=headers, user=user)


# --- read ----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_get_profile_has_spec_shape(api, make_user):
    user = await make_user(email="ada@example.com", full_name="Ada Obi")
    profile = await Profile.aio_get(Profile.user == user.id)
    await Profile.update(phone_number="+2348012345678", country_code="+234").where(
        Profile.id == profile.id).aio_execute()

    resp = await api.get("/api/profile/", user=user)
    assert resp.status == 200, resp
    body = resp.json()
    assert {"id", "email", "full_name", "phone_number", "country_code", "formatted_phone_number", "photo",
            "photo_url", "updated_at", "available_country_codes"} <= set(body)
    assert body["id"] == profile.id
    assert body["email"] == "ada@example.com"
    assert body["full_name"] == "Ada Obi"
    assert body["phone_number"] == "+2348012345678"
    assert body["country_code"] == "+234"
    assert body["formatted_phone_number"] == "+234 801 234 5678"
    assert body["photo"] is None and body["photo_url"] is None
    assert body["updated_at"].endswith("Z")
    codes = body["available_country_codes"]
    assert codes["+234"] == "Nigeria"
    assert codes["+44"] == "United Kingdom"
    assert codes["+1"] == "United States"


@pytest.mark.gen_test
async def test_new_profile_has_empty_phone(api, make_user):
    user = await make_user()
    body = (await api.get("/api/profile/", user=user)).json()
    assert body["phone_number"] is None and body["formatted_phone_number"] is None


@pytest.mark.gen_test
async def test_profiles_alias_and_v1_prefix_return_the_same_profile(api, make_user):
    user = await make_user()
    first = (await api.get("/api/profile/", user=user)).json()
    for path in ("/api/profiles/", "/api/v1/profile/", "/api/profile", f"/api/profile/{first['id']}/"):
        resp = await api.get(path, user=user)
        assert resp.status == 200, (path, resp)
        assert resp.json()["id"] == first["id"]


@pytest.mark.gen_test
async def test_profile_without_token_is_401_with_www_authenticate(api):
    resp = await api.get("/api/profile/")
    body = assert_envelope(resp, 401)
    assert body["detail"] == "Authentication credentials were not provided."
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.gen_test
async def test_malformed_authorization_header_is_401(api):
    resp = await api.get("/api/profile/", headers={"Authorization": "Token abc"})
    assert_envelope(resp, 401)


# --- update ----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_patch_profile_normalises_phone_to_e164(api, make_user):
    user = await make_user()
    profile_id = (await api.get("/api/profile/", user=user)).json()["id"]
    resp = await api.patch(f"/api/profile/{profile_id}/", user=user,
                           json={"full_name": "John Doe", "phone_number": "8012345678", "country_code": "+234"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["phone_number"] == "+2348012345678"
    assert body["country_code"] == "+234"
    assert body["formatted_phone_number"] == "+234 801 234 5678"
    assert body["full_name"] == "John Doe"
    # The customer record follows the profile.
    customer = await Customer.aio_get(Customer.user == user.id)
    assert customer.phone == "+2348012345678" and customer.name == "John Doe"


@pytest.mark.gen_test
async def test_put_profile_under_profiles_alias_works(api, make_user):
    user = await make_user()
    profile_id = (await api.get("/api/profile/", user=user)).json()["id"]
    resp = await api.put(f"/api/profiles/{profile_id}/", user=user,
                         json={"phone_number": "08012345678", "country_code": "234"})
    assert resp.status == 200, resp
    assert resp.json()["phone_number"] == "+2348012345678"


@pytest.mark.gen_test
async def test_patch_profile_rejects_invalid_phone(api, make_user):
    user = await make_user()
    profile_id = (await api.get("/api/profile/", user=user)).json()["id"]
    for number in ("12", "not-a-phone"):
        resp = await api.patch(f"/api/profile/{profile_id}/", user=user,
                               json={"phone_number": number, "country_code": "+234"})
        body = assert_envelope(resp, 400)
        assert body["message"] == "Validation error"
        assert body["errors"] == {"phone_number": ["Invalid phone number format"]}


@pytest.mark.gen_test
async def test_patch_other_users_profile_is_404(api, make_user):
    owner = await make_user()
    intruder = await make_user()
    owner_profile = (await api.get("/api/profile/", user=owner)).json()["id"]
    resp = await api.patch(f"/api/profile/{owner_profile}/", user=intruder, json={"full_name": "Hacked"})
    assert_envelope(resp, 404)
    assert_envelope(await api.get(f"/api/profile/{owner_profile}/", user=intruder), 404)
    assert (await User.aio_get(User.id == owner.id)).full_name != "Hacked"


@pytest.mark.gen_test
async def test_update_details_changes_name_email_and_phone(api, make_user):
    user = await make_user(email="old@example.com")
    resp = await api.patch("/api/profile/update-details/", user=user, json={
        "full_name": "John Smith", "email": "John.Smith@Example.com",
        "phone_number": "8123456789", "country_code": "+234", "current_password": "password123"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["email"] == "john.smith@example.com"
    assert body["full_name"] == "John Smith"
    assert body["phone_number"] == "+2348123456789"
    fresh = await User.aio_get(User.id == user.id)
    assert fresh.email == "john.smith@example.com" and fresh.is_verified is False
    assert (await Customer.aio_get(Customer.user == user.id)).email == "john.smith@example.com"
    resp = await api.patch("/api/profiles/update-details/", user=user, json={"full_name": "J. Smith"})
    assert resp.status == 200 and resp.json()["full_name"] == "J. Smith"


@pytest.mark.gen_test
async def test_update_details_to_a_taken_email_is_400(api, make_user):
    await make_user(email="taken@example.com")
    user = await make_user(email="mine@example.com")
    resp = await api.patch("/api/profile/update-details/", user=user, json={"email": "TAKEN@example.com",
                                                                              "current_password": "password123"})
    body = assert_envelope(resp, 400)
    assert body["errors"] == {"email": ["User with this email address already exists."]}
    assert (await User.aio_get(User.id == user.id)).email == "mine@example.com"


@pytest.mark.gen_test
async def test_update_details_to_an_admin_created_customers_email_is_400(api, make_user):
    await Customer.aio_create(email="walkin@example.com", name="Walk In")
    user = await make_user(email="mine@example.com")
    resp = await api.patch("/api/profile/update-details/", user=user, json={"email": "walkin@example.com",
                                                                              "current_password": "password123"})
    body = assert_envelope(resp, 400)
    assert body["errors"] == {"email": ["User with this email address already exists."]}
    assert (await User.aio_get(User.id == user.id)).email == "mine@example.com"


@pytest.mark.gen_test
async def test_update_details_with_invalid_email_is_400(api, make_user):
    user = await make_user()
    resp = await api.patch("/api/profile/update-details/", user=user, json={"email": "nope"})
    assert assert_envelope(resp, 400)["errors"] == {"email": ["Enter a valid email address."]}


# --- photo -----------------------------------------------------------------------

@pytest.mark.gen_test
async def test_upload_photo_stores_and_serves_the_image(api, make_user):
    user = await make_user()
    data = png_bytes()
    resp = await upload(api, user, data)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["photo_url"].startswith("http://testserver/media/profiles/")
    assert body["photo_url"].endswith(".png")
    key = body["photo"]
    assert body["photo_url"] == f"http://testserver/media/{key}"
    assert (settings.MEDIA_DIR / key).read_bytes() == data

    served = await api.get(f"/media/{key}")
    assert served.status == 200
    assert served.body == data
    assert served.headers["Content-Type"] == "image/png"

    again = (await api.get("/api/profile/", user=user)).json()
    assert again["photo_url"] == body["photo_url"]


@pytest.mark.gen_test
async def test_new_photo_replaces_and_deletes_the_old_file(api, make_user):
    user = await make_user()
    old_key = (await upload(api, user, png_bytes())).json()["photo"]
    new_key = (await upload(api, user, png_bytes(color=(0, 0, 255)))).json()["photo"]
    assert new_key != old_key
    assert not (settings.MEDIA_DIR / old_key).exists()
    assert (settings.MEDIA_DIR / new_key).exists()


@pytest.mark.gen_test
async def test_upload_photo_rejects_text_named_jpg(api, make_user):
    user = await make_user()
    resp = await upload(api, user, b"this is not an image at all\n" * 10, filename="me.jpg", ctype="image/jpeg")
    body = assert_envelope(resp, 400)
    assert "photo" in body["errors"]
    assert (await Profile.aio_get(Profile.user == user.id)).photo is None


@pytest.mark.gen_test
async def test_upload_photo_rejects_files_over_2mb(api, make_user):
    user = await make_user()
    resp = await upload(api, user, big_png_bytes())
    body = assert_envelope(resp, 400)
    assert "photo" in body["errors"]
    assert (await Profile.aio_get(Profile.user == user.id)).photo is None


@pytest.mark.gen_test
async def test_upload_photo_without_file_is_400(api, make_user):
    user = await make_user()
    body, headers = multipart({"other": ("x.txt", b"x", "text/plain")})
    resp = await api.post("/api/profile/upload_photo/", body=body, headers=headers, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"photo": ["No file was submitted."]}


@pytest.mark.gen_test
async def test_upload_photo_requires_authentication(api):
    body, headers = multipart({"photo": ("me.png", png_bytes(), "image/png")})
    resp = await api.post("/api/profile/upload_photo/", body=body, headers=headers)
    assert_envelope(resp, 401)


@pytest.mark.gen_test
async def test_remove_photo_clears_it_and_deletes_the_file(api, make_user):
    user = await make_user()
    key = (await upload(api, user, png_bytes())).json()["photo"]
    resp = await api.delete("/api/profile/remove_photo/", user=user)
    assert resp.status == 204 and resp.body == b""
    assert not (settings.MEDIA_DIR / key).exists()
    body = (await api.get("/api/profile/", user=user)).json()
    assert body["photo"] is None and body["photo_url"] is None


def png_claiming_huge_dimensions() -> bytes:
    """A tiny PNG whose header claims 30000x30000 pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.gen_test
async def test_upload_photo_rejects_decompression_bombs(api, make_user):
    user = await make_user()
    resp = await upload(api, user, png_claiming_huge_dimensions())
    body = assert_envelope(resp, 400)
    assert body["errors"] == {"photo": ["Image dimensions are too large."]}
