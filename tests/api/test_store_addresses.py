"""The signed-in user's address book: CRUD, validation, ownership and the one default."""
from __future__ import annotations

import pytest

from models.accounts.tables import Address
from tests.support.client import assert_envelope

ADDRESS = {
    "full_name": "John Doe",
    "email": "user@example.com",
    "phone_number": "+2348012345678",
    "street_address": "123 Main St",
    "city": "Lagos",
    "state": "Lagos",
    "country": "Nigeria",
    "zip_code": "100001",
}
FIELDS = set(ADDRESS) | {"id", "is_default", "created_at", "updated_at"}


async def create(api, user, **changes):
    resp = await api.post("/api/addresses/", json={**ADDRESS, **changes}, user=user)
    assert resp.status == 201, resp
    return resp.json()


async def defaults_of(user) -> list[int]:
    rows = await Address.select(Address.id).where((Address.user == user.id) & Address.is_default).aio_execute()
    return [r.id for r in rows]


@pytest.mark.gen_test
async def test_create_address_returns_spec_shape(api, make_user):
    user = await make_user()
    body = await create(api, user, is_default=True)
    assert set(body) == FIELDS
    assert {k: body[k] for k in ADDRESS} == ADDRESS
    assert body["is_default"] is True
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")


@pytest.mark.gen_test
async def test_first_address_becomes_default_even_if_not_asked(api, make_user):
    user = await make_user()
    first = await create(api, user, is_default=False)
    assert first["is_default"] is True
    second = await create(api, user)
    assert second["is_default"] is False
    assert await defaults_of(user) == [first["id"]]


@pytest.mark.gen_test
async def test_new_default_address_takes_over_the_default(api, make_user):
    user = await make_user()
    await create(api, user)
    newer = await create(api, user, is_default=True, street_address="2 New Rd")
    assert await defaults_of(user) == [newer["id"]]
    listing = (await api.get("/api/addresses/", user=user)).json()
    assert listing[0]["id"] == newer["id"]
    assert [a["is_default"] for a in listing] == [True, False]


@pytest.mark.gen_test
async def test_list_returns_only_own_addresses_as_plain_array(api, make_user):
    user = await make_user()
    other = await make_user()
    mine = await create(api, user)
    await create(api, other)
    resp = await api.get("/api/addresses/", user=user)
    assert resp.status == 200
    body = resp.json()
    assert isinstance(body, list) and [a["id"] for a in body] == [mine["id"]]
    assert set(body[0]) == FIELDS


@pytest.mark.gen_test
async def test_create_requires_every_field(api, make_user):
    user = await make_user()
    resp = await api.post("/api/addresses/", json={"full_name": "John Doe"}, user=user)
    body = assert_envelope(resp, 400)
    assert body["message"] == "Validation error"
    for field in set(ADDRESS) - {"full_name"}:
        assert body["errors"][field] == ["This field is required."], field
    assert not await Address.select().aio_exists()


@pytest.mark.gen_test
async def test_create_rejects_blank_fields_bad_email_and_bad_phone(api, make_user):
    user = await make_user()
    resp = await api.post("/api/addresses/", json={**ADDRESS, "street_address": "  "}, user=user)
    assert "street_address" in assert_envelope(resp, 400)["errors"]
    resp = await api.post("/api/addresses/", json={**ADDRESS, "email": "nope"}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"email": ["Enter a valid email address."]}
    resp = await api.post("/api/addresses/", json={**ADDRESS, "phone_number": "123"}, user=user)
    assert assert_envelope(resp, 400)["errors"] == {"phone_number": ["Invalid phone number format"]}


@pytest.mark.gen_test
async def test_create_names_unknown_and_read_only_fields_and_writes_nothing(api, make_user):
    user = await make_user()
    other = await make_user()
    resp = await api.post("/api/addresses/", user=user,
                          json={**ADDRESS, "id": 999, "user": other.id, "user_id": other.id, "colour": "blue"})
    body = assert_envelope(resp, 400)
    assert body["errors"] == {name: ["Unknown field."] for name in ("id", "user", "user_id", "colour")}
    assert not await Address.select().aio_exists()


@pytest.mark.gen_test
async def test_get_one_address(api, make_user):
    user = await make_user()
    created = await create(api, user)
    resp = await api.get(f"/api/addresses/{created['id']}/", user=user)
    assert resp.status == 200 and resp.json() == created


@pytest.mark.gen_test
async def test_patch_changes_only_given_fields(api, make_user):
    user = await make_user()
    created = await create(api, user)
    resp = await api.patch(f"/api/addresses/{created['id']}/", json={"street_address": "456 New St"}, user=user)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["street_address"] == "456 New St"
    assert body["city"] == "Lagos" and body["is_default"] is True
    assert body["created_at"] == created["created_at"]


@pytest.mark.gen_test
async def test_put_replaces_the_address_and_requires_all_fields(api, make_user):
    user = await make_user()
    created = await create(api, user)
    replacement = {**ADDRESS, "full_name": "Jane Roe", "city": "Abuja", "state": "FCT", "zip_code": "900001"}
    resp = await api.put(f"/api/addresses/{created['id']}/", json=replacement, user=user)
    assert resp.status == 200, resp
    assert {k: resp.json()[k] for k in ADDRESS} == replacement
    resp = await api.put(f"/api/addresses/{created['id']}/", json={"city": "Kano"}, user=user)
    assert assert_envelope(resp, 400)["errors"]["street_address"] == ["This field is required."]


@pytest.mark.gen_test
async def test_patch_is_default_moves_the_default(api, make_user):
    user = await make_user()
    first = await create(api, user)
    second = await create(api, user)
    resp = await api.patch(f"/api/addresses/{second['id']}/", json={"is_default": True}, user=user)
    assert resp.status == 200 and resp.json()["is_default"] is True
    assert await defaults_of(user) == [second["id"]]
    # Unsetting the only default is ignored: one address always stays the default.
    resp = await api.patch(f"/api/addresses/{second['id']}/", json={"is_default": False}, user=user)
    assert resp.status == 200 and resp.json()["is_default"] is True
    assert await defaults_of(user) == [second["id"]]
    assert first["id"] not in await defaults_of(user)


@pytest.mark.gen_test
async def test_set_default_makes_exactly_one_default(api, make_user):
    user = await make_user()
    ids = [(await create(api, user))["id"] for _ in range(3)]
    for target in (ids[2], ids[1], ids[1]):
        resp = await api.post(f"/api/addresses/{target}/set_default/", user=user)
        assert resp.status == 200, resp
        assert resp.json()["id"] == target and resp.json()["is_default"] is True
        assert await defaults_of(user) == [target]


@pytest.mark.gen_test
async def test_deleting_the_default_promotes_the_newest_remaining(api, make_user):
    user = await make_user()
    first = await create(api, user)
    second = await create(api, user)
    third = await create(api, user)
    resp = await api.delete(f"/api/addresses/{first['id']}/", user=user)
    assert resp.status == 204 and resp.body == b""
    assert await defaults_of(user) == [third["id"]]
    assert (await api.delete(f"/api/addresses/{second['id']}/", user=user)).status == 204
    assert await defaults_of(user) == [third["id"]]
    assert (await api.delete(f"/api/addresses/{third['id']}/", user=user)).status == 204
    assert await defaults_of(user) == []
    assert (await api.get("/api/addresses/", user=user)).json() == []


@pytest.mark.gen_test
async def test_defaults_of_users_are_independent(api, make_user):
    alice = await make_user()
    bob = await make_user()
    a = await create(api, alice)
    b = await create(api, bob)
    assert await defaults_of(alice) == [a["id"]] and await defaults_of(bob) == [b["id"]]


@pytest.mark.gen_test
async def test_another_users_address_is_404_everywhere(api, make_user):
    owner = await make_user()
    intruder = await make_user()
    own = await create(api, intruder)
    target = await create(api, owner)
    path = f"/api/addresses/{target['id']}/"
    assert_envelope(await api.get(path, user=intruder), 404)
    assert_envelope(await api.patch(path, json={"city": "Hacked"}, user=intruder), 404)
    assert_envelope(await api.put(path, json={**ADDRESS, "city": "Hacked"}, user=intruder), 404)
    assert_envelope(await api.delete(path, user=intruder), 404)
    assert_envelope(await api.post(f"{path}set_default/", user=intruder), 404)
    row = await Address.aio_get(Address.id == target["id"])
    assert row.city == "Lagos" and row.is_default is True
    assert await defaults_of(intruder) == [own["id"]]


@pytest.mark.gen_test
async def test_unknown_address_is_404_with_message(api, make_user):
    user = await make_user()
    body = assert_envelope(await api.delete("/api/addresses/424242/", user=user), 404)
    assert body["message"] == "Address not found"


@pytest.mark.gen_test
async def test_addresses_need_authentication(api):
    assert_envelope(await api.get("/api/addresses/"), 401)
    assert_envelope(await api.post("/api/addresses/", json=ADDRESS), 401)


@pytest.mark.gen_test
async def test_v1_alias_and_missing_trailing_slash_work(api, make_user):
    user = await make_user()
    resp = await api.post("/api/v1/addresses", json=ADDRESS, user=user)
    assert resp.status == 201, resp
    address_id = resp.json()["id"]
    for path in ("/api/addresses", "/api/v1/addresses/"):
        resp = await api.get(path, user=user)
        assert resp.status == 200 and [a["id"] for a in resp.json()] == [address_id]
    assert (await api.get(f"/api/v1/addresses/{address_id}", user=user)).status == 200
    assert (await api.post(f"/api/v1/addresses/{address_id}/set_default", user=user)).status == 200
    assert (await api.delete(f"/api/v1/addresses/{address_id}", user=user)).status == 204


@pytest.mark.gen_test
async def test_concurrent_first_addresses_leave_exactly_one_default(api, make_user):
    import asyncio

    user = await make_user()
    responses = await asyncio.gather(*(api.post("/api/addresses/", json=ADDRESS, user=user) for _ in range(4)))
    assert [r.status for r in responses] == [201] * 4, responses
    assert len(await defaults_of(user)) == 1


@pytest.mark.gen_test
async def test_address_list_runs_the_same_queries_whatever_its_length(api, make_user, count_queries):
    user = await make_user()
    await create(api, user)
    with count_queries() as few:
        assert len((await api.get("/api/addresses/", user=user)).json()) == 1
    for _ in range(15):
        await create(api, user)
    with count_queries() as many:
        assert len((await api.get("/api/addresses/", user=user)).json()) == 16
    assert len(few) == len(many) == 2  # the user (auth) and the addresses
