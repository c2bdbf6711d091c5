"""Sessions for single-page apps: two tabs refreshing at once stay signed in
(the rotated refresh token, presented again within REFRESH_REUSE_GRACE_SECONDS,
gets the very pair it was rotated into); any other reuse still ends every
session, each logged with its reason; a stale token on a public operation is
answered as anonymous, not 401."""
from __future__ import annotations

import asyncio
import logging

import jwt
import pytest

import settings
from models.accounts.tables import AuthSession, RefreshToken
from tests.support.accounts import age_rotations, login
from tests.support.client import assert_envelope
from tests.support.factories import product

REFRESH = "/api/auth/token/refresh/"


async def refresh(api, token):
    return await api.post(REFRESH, json={"refresh_token": token})


@pytest.mark.gen_test
async def test_two_tabs_refreshing_at_once_both_get_the_same_pair_and_stay_signed_in(api, make_user):
    user = await make_user()
    first = (await login(api, user.email)).json()
    tab_a, tab_b = await asyncio.gather(refresh(api, first["refresh_token"]), refresh(api, first["refresh_token"]))
    assert tab_a.status == tab_b.status == 200, (tab_a, tab_b)
    a, b = tab_a.json(), tab_b.json()
    assert a["refresh_token"] == b["refresh_token"] and a["access_token"] == b["access_token"]
    assert a["refresh_token"] != first["refresh_token"]
    for token in (a["access_token"], first["access_token"]):
        assert (await api.get("/api/profile/", token=token)).status == 200
    # The pair both tabs hold keeps rotating normally.
    again = await refresh(api, a["refresh_token"])
    assert again.status == 200, again
    assert (await api.get("/api/profile/", token=again.json()["access_token"])).status == 200
    assert not await AuthSession.select().where(AuthSession.revoked_at.is_null(False)).aio_exists()


@pytest.mark.gen_test
async def test_a_replay_within_the_grace_is_the_very_pair_not_a_new_one(api, make_user):
    user = await make_user()
    first = (await login(api, user.email)).json()
    rotated = (await refresh(api, first["refresh_token"])).json()
    replay = (await refresh(api, first["refresh_token"])).json()
    assert (replay["access_token"], replay["refresh_token"]) == (rotated["access_token"], rotated["refresh_token"])
    assert await RefreshToken.select().aio_count() == 2  # nothing new was issued


@pytest.mark.gen_test
async def test_reuse_after_the_grace_ends_every_session_and_logs_each_with_its_reason(api, make_user, caplog):
    user = await make_user()
    stolen = (await login(api, user.email)).json()
    other = (await login(api, user.email)).json()
    rotated = (await refresh(api, stolen["refresh_token"])).json()
    await age_rotations(settings.REFRESH_REUSE_GRACE_SECONDS + 1)
    with caplog.at_level(logging.INFO, logger="avantlush.auth"):
        assert_envelope(await refresh(api, stolen["refresh_token"]), 401)
    for token in (rotated["access_token"], other["access_token"]):
        assert_envelope(await api.get("/api/profile/", token=token), 401)
    sessions = list(await AuthSession.select().aio_execute())
    assert len(sessions) == 2 and {s.ended_reason for s in sessions} == {"refresh_token_reuse"}
    ended = [r.getMessage() for r in caplog.records if "ended: refresh_token_reuse" in r.getMessage()]
    assert sorted(ended) == sorted(f"session {s.id} of user {user.id} ended: refresh_token_reuse" for s in sessions)


@pytest.mark.gen_test
async def test_the_grace_does_not_revive_a_pair_rotated_again_or_logged_out(api, make_user):
    user = await make_user()
    first = (await login(api, user.email)).json()
    second = (await refresh(api, first["refresh_token"])).json()
    await api.post("/api/auth/logout/", json={"refresh_token": second["refresh_token"]})
    assert_envelope(await refresh(api, first["refresh_token"]), 401)
    rows = list(await AuthSession.select().aio_execute())
    assert [r.ended_reason for r in rows] == ["logout"]
    # Rotated twice: the first token's successor is no longer live, so its replay is reuse.
    user2 = await make_user()
    one = (await login(api, user2.email)).json()
    two = (await refresh(api, one["refresh_token"])).json()
    three = (await refresh(api, two["refresh_token"]))
    assert three.status == 200
    assert_envelope(await refresh(api, one["refresh_token"]), 401)
    assert_envelope(await api.get("/api/profile/", token=three.json()["access_token"]), 401)


# --- a stale token on a public operation -------------------------------------------

@pytest.mark.gen_test
async def test_a_stale_token_on_the_catalog_gets_the_catalog_with_a_hint(api, make_user):
    await product("Oak Chair")
    user = await make_user()
    pair = (await login(api, user.email)).json()
    await api.post("/api/auth/logout/", json={"refresh_token": pair["refresh_token"]})
    expired = jwt.encode({"sub": str(user.id), "type": "access", "iat": 1, "exp": 2, "jti": "x", "ver": 0},
                         settings.SECRET_KEY, algorithm="HS256")
    for token in (pair["access_token"], expired, "garbage"):
        resp = await api.get("/api/products/", token=token)
        assert resp.status == 200, (token, resp)
        assert resp.json()["count"] == 1
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    resp = await api.get("/api/products/", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert resp.status == 200 and "invalid_token" in resp.headers["WWW-Authenticate"]
    assert "WWW-Authenticate" not in (await api.get("/api/products/")).headers
    # and the document says so, for the catalog's success answer
    schema = (await api.get("/api/schema/")).json()
    assert "WWW-Authenticate" in schema["paths"]["/api/products/"]["get"]["responses"]["200"]["headers"]


@pytest.mark.gen_test
async def test_operations_needing_a_user_still_answer_401_to_a_stale_token(api, make_user):
    for path in ("/api/cart/", "/api/profile/", "/api/orders/"):
        assert_envelope(await api.get(path, token="garbage"), 401)


@pytest.mark.gen_test
async def test_a_valid_token_on_a_public_operation_still_counts(api, make_user):
    """A signed-in caller on a public page is still themselves (their own reviews, rate bucket)."""
    user = await make_user()
    resp = await api.get("/api/products/", user=user)
    assert resp.status == 200 and "WWW-Authenticate" not in resp.headers
