"""Accounts over HTTP: register, login, email verification, password reset,
JWT validation, refresh rotation, logout, blocked customers and Google sign-in."""
from __future__ import annotations

import datetime as dt
import time
import uuid

import jwt
import pytest

import settings
from models.accounts.tables import Customer, OneTimeToken, RefreshToken, User
from tests.support.accounts import PASSWORD, RESET_LINK, VERIFY_LINK, age_rotations, block, link_in, login, register
from tests.support.client import assert_envelope
from tests.support.fakes import google_token
from tests.support.mail import wait_for_mail

# --- register ------------------------------------------------------------------

@pytest.mark.gen_test
async def test_register_returns_user_and_working_access_token(api):
    resp = await register(api, location="Nigeria", full_name="Ada Obi")
    assert resp.status == 201, resp
    body = resp.json()
    assert set(body) == {"user", "token"}
    user = body["user"]
    assert user["email"] == "new@example.com"
    assert user["location"] == "Nigeria"
    assert user["full_name"] == "Ada Obi"
    assert user["is_verified"] is False and user["is_staff"] is False
    uuid.UUID(user["uuid"])

    me = await api.get("/api/profile/", token=body["token"])
    assert me.status == 200 and me.json()["email"] == "new@example.com"


@pytest.mark.gen_test
async def test_register_creates_profile_and_customer_records(api):
    resp = await register(api, email="Mixed.Case@Example.COM")
    assert resp.status == 201
    user = await User.aio_get(User.email == "mixed.case@example.com")
    customer = await Customer.aio_get(Customer.user == user.id)
    assert customer.email == "mixed.case@example.com" and customer.status == "active"
    assert user.password_hash and user.password_hash != PASSWORD


@pytest.mark.gen_test
async def test_register_duplicate_email_is_400_whatever_the_case(api):
    assert (await register(api, email="dup@example.com")).status == 201
    resp = await register(api, email="DUP@example.com")
    body = assert_envelope(resp, 400, "Validation error")
    assert body["errors"] == {"email": ["User with this email address already exists."]}


@pytest.mark.gen_test
async def test_register_short_password_is_400(api):
    body = assert_envelope(await register(api, password="short"), 400, "Validation error")
    assert "password" in body["errors"]
    assert not await User.select().aio_exists()


@pytest.mark.gen_test
async def test_register_invalid_email_is_400(api):
    body = assert_envelope(await register(api, email="not-an-email"), 400, "Validation error")
    assert body["errors"] == {"email": ["Enter a valid email address."]}


@pytest.mark.gen_test
async def test_register_missing_fields_are_required(api):
    body = assert_envelope(await api.post("/api/register/", json={}), 400)
    assert body["errors"]["email"] == ["This field is required."]
    assert body["errors"]["password"] == ["This field is required."]


@pytest.mark.gen_test
async def test_register_bad_json_is_400(api):
    resp = await api.post("/api/register/", body=b'{"email": "x@example.com",',
                          headers={"Content-Type": "application/json"})
    assert_envelope(resp, 400)
    resp = await api.post("/api/register/", json=["not", "an", "object"])
    assert_envelope(resp, 400)


@pytest.mark.gen_test
async def test_register_refuses_unknown_and_read_only_fields_by_name(api):
    resp = await register(api, email="sneaky@example.com", is_staff=True, is_verified=True, id=999,
                          favourite_colour="teal")
    body = assert_envelope(resp, 400)
    assert body["errors"] == {name: ["Unknown field."] for name in ("is_staff", "is_verified", "id",
                                                                    "favourite_colour")}
    assert await User.aio_get_or_none(User.email == "sneaky@example.com") is None


@pytest.mark.gen_test
async def test_register_alias_under_auth_works(api):
    resp = await api.post("/api/auth/register/", json={"email": "alias@example.com", "password": PASSWORD})
    assert resp.status == 201


# --- login ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_login_returns_token_pair_and_user(api, make_user):
    user = await make_user(email="login@example.com", location="Lagos")
    resp = await login(api, "LOGIN@example.com")
    assert resp.status == 200, resp
    body = resp.json()
    assert set(body) == {"access_token", "refresh_token", "user"}
    assert body["user"]["email"] == "login@example.com"
    assert body["user"]["uuid"] == str(user.uuid)
    assert body["user"]["location"] == "Lagos"
    claims = jwt.decode(body["access_token"], settings.SECRET_KEY, algorithms=["HS256"])
    assert claims["sub"] == str(user.id) and claims["type"] == "access"
    assert {"iat", "exp", "jti"} <= set(claims)
    refresh = jwt.decode(body["refresh_token"], settings.SECRET_KEY, algorithms=["HS256"])
    assert refresh["type"] == "refresh"
    assert await RefreshToken.select().where(RefreshToken.jti == refresh["jti"]).aio_exists()


@pytest.mark.gen_test
async def test_unverified_user_may_log_in(api, make_user):
    await make_user(email="fresh@example.com", is_verified=False)
    resp = await login(api, "fresh@example.com")
    assert resp.status == 200
    assert resp.json()["user"]["is_verified"] is False


@pytest.mark.gen_test
async def test_login_wrong_password_is_401_with_www_authenticate(api, make_user):
    await make_user(email="login@example.com")
    resp = await login(api, "login@example.com", "wrong-password")
    body = assert_envelope(resp, 401, "Invalid credentials")
    assert body["errors"] == {"password": ["Invalid email or password."]}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.gen_test
async def test_login_unknown_email_is_401(api):
    resp = await login(api, "nobody@example.com")
    assert_envelope(resp, 401, "Invalid credentials")


@pytest.mark.gen_test
async def test_blocked_customer_cannot_log_in(api, make_user):
    user = await make_user(email="blocked@example.com")
    await block(user.id)
    resp = await login(api, "blocked@example.com")
    assert_envelope(resp, 403)
    assert not await RefreshToken.select().aio_exists()


@pytest.mark.gen_test
async def test_blocked_customers_existing_access_token_stops_working(api, make_user):
    user = await make_user()
    assert (await api.get("/api/profile/", user=user)).status == 200
    await block(user.id)
    resp = await api.get("/api/profile/", user=user)
    assert_envelope(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.gen_test
async def test_blocked_customers_refresh_token_stops_working(api, make_user):
    await make_user(email="b@example.com")
    tokens = (await login(api, "b@example.com")).json()
    await block((await User.aio_get(User.email == "b@example.com")).id)
    resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]})
    assert_envelope(resp, 401)


# --- email verification -------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_verification_link_from_email_verifies_once(api, mailbox):
    resp = await register(api, email="verify.me@example.com")
    assert resp.status == 201
    [msg] = await wait_for_mail(1)
    assert msg["To"] == "verify.me@example.com"
    assert msg["Subject"] == "Verify your AvantLush email address"
    path = "/api" + link_in(msg, VERIFY_LINK).group(1)  # the storefront's page POSTs to the API

    resp = await api.post(path)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["success"] is True and body["message"] == "Email verified successfully"
    check = await api.post("/api/auth/validate-token/", token=body["token"])
    assert check.status == 200 and check.json() == {"valid": True}
    assert (await User.aio_get(User.email == "verify.me@example.com")).is_verified is True

    again = await api.get(path)  # the spec's GET answers too
    body = assert_envelope(again, 400, "Invalid verification link")


@pytest.mark.gen_test
async def test_verification_tokens_are_stored_hashed(api):
    await register(api, email="hashed@example.com")
    [row] = list(await OneTimeToken.select().aio_execute())
    assert row.purpose == "verify" and len(row.token_hash) == 64 and row.used_at is None


@pytest.mark.gen_test
async def test_verification_link_with_garbage_is_400(api, make_user):
    user = await make_user(is_verified=False)
    from models.accounts.tokens import uid_encode

    resp = await api.get(f"/api/verify-email/not-a-token/{uid_encode(user.id)}/")
    assert_envelope(resp, 400, "Invalid verification link")
    resp = await api.get("/api/verify-email/not-a-token/%%%/")
    assert_envelope(resp, 400, "Invalid verification link")


@pytest.mark.gen_test
async def test_expired_verification_link_is_refused(api):
    from models.accounts import tokens

    await register(api, email="late@example.com")
    user = await User.aio_get(User.email == "late@example.com")
    raw = await tokens.new_one_time_token(user, "verify")
    await OneTimeToken.update(expires_at=dt.datetime(2000, 1, 1)).aio_execute()
    resp = await api.get(f"/api/verify-email/{raw}/{tokens.uid_encode(user.id)}/")
    assert_envelope(resp, 400, "Invalid verification link")


@pytest.mark.gen_test(timeout=60)
async def test_resend_verification_sends_new_link_and_old_one_stops_working(api, mailbox):
    await register(api, email="again@example.com")
    [first] = await wait_for_mail(1)
    old_path = "/api" + link_in(first, VERIFY_LINK).group(1)

    resp = await api.post("/api/resend-verification/", json={"email": "Again@example.com"})
    assert resp.status == 200, resp
    assert resp.json() == {"success": True, "message": "Verification email resent successfully"}
    mails = await wait_for_mail(2)
    [new_path] = {"/api" + link_in(m, VERIFY_LINK).group(1) for m in mails} - {old_path}

    assert_envelope(await api.get(old_path), 400, "Invalid verification link")
    assert (await api.get(new_path)).status == 200


@pytest.mark.gen_test
async def test_resend_verification_is_404_for_unknown_or_verified_email(api, make_user):
    await make_user(email="done@example.com", is_verified=True)
    for email in ("done@example.com", "nobody@example.com"):
        resp = await api.post("/api/resend-verification/", json={"email": email})
        assert_envelope(resp, 404, "No unverified user found with this email")


# --- password reset ------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_password_reset_flow_changes_password_and_ends_sessions(api, make_user, mailbox):
    await make_user(email="forgetful@example.com", password="old-password")
    session = (await login(api, "forgetful@example.com", "old-password")).json()

    resp = await api.post("/api/forgot-password/", json={"email": "forgetful@example.com"})
    assert resp.status == 200, resp
    assert resp.json() == {"success": True, "message": "Password reset link sent to your email"}
    [msg] = await wait_for_mail(1)
    assert msg["To"] == "forgetful@example.com"
    uidb64, token = link_in(msg, RESET_LINK).groups()

    resp = await api.post(f"/api/reset-password/{uidb64}/{token}/", json={"password": "brand-new-pass"})
    assert resp.status == 200, resp
    assert resp.json() == {"success": True, "message": "Password reset successful"}
    again = await api.post(f"/api/reset-password/{uidb64}/{token}/", json={"password": "another-new-pass"})
    assert_envelope(again, 400, "Invalid reset link")

    assert_envelope(await login(api, "forgetful@example.com", "old-password"), 401)
    assert (await login(api, "forgetful@example.com", "brand-new-pass")).status == 200
    # Existing refresh tokens were revoked by the reset.
    resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": session["refresh_token"]})
    assert_envelope(resp, 401)


@pytest.mark.gen_test
async def test_reset_link_works_once(api, make_user):
    from models.accounts import tokens

    user = await make_user(email="once@example.com")
    raw = await tokens.new_one_time_token(user, "reset")
    path = f"/api/reset-password/{tokens.uid_encode(user.id)}/{raw}/"
    assert (await api.post(path, json={"password": "first-new-pass"})).status == 200
    resp = await api.post(path, json={"password": "second-new-pass"})
    assert_envelope(resp, 400, "Invalid reset link")
    assert (await login(api, "once@example.com", "first-new-pass")).status == 200


@pytest.mark.gen_test
async def test_reset_with_weak_password_is_400_and_keeps_the_link(api, make_user):
    from models.accounts import tokens

    user = await make_user(email="weak@example.com")
    raw = await tokens.new_one_time_token(user, "reset")
    path = f"/api/reset-password/{tokens.uid_encode(user.id)}/{raw}/"
    body = assert_envelope(await api.post(path, json={"password": "short"}), 400, "Validation error")
    assert "password" in body["errors"]
    assert (await api.post(path, json={"password": "long-enough-now"})).status == 200


@pytest.mark.gen_test
async def test_reset_link_of_another_user_is_refused(api, make_user):
    from models.accounts import tokens

    alice = await make_user()
    bob = await make_user()
    raw = await tokens.new_one_time_token(alice, "reset")
    resp = await api.post(f"/api/reset-password/{tokens.uid_encode(bob.id)}/{raw}/", json={"password": "hijacked-pass"})
    assert_envelope(resp, 400, "Invalid reset link")


@pytest.mark.gen_test
async def test_verification_token_is_not_a_reset_token(api, make_user):
    from models.accounts import tokens

    user = await make_user(is_verified=False)
    raw = await tokens.new_one_time_token(user, "verify")
    resp = await api.post(f"/api/reset-password/{tokens.uid_encode(user.id)}/{raw}/", json={"password": "hijacked-pass"})
    assert_envelope(resp, 400, "Invalid reset link")


@pytest.mark.gen_test
async def test_forgot_password_for_unknown_email_is_404(api):
    resp = await api.post("/api/forgot-password/", json={"email": "nobody@example.com"})
    assert_envelope(resp, 404, "No user found with this email address")


# --- validate-token ------------------------------------------------------------

@pytest.mark.gen_test
async def test_validate_token_accepts_a_valid_access_token(api, make_user):
    user = await make_user()
    resp = await api.post("/api/auth/validate-token/", user=user)
    assert resp.status == 200 and resp.json() == {"valid": True}


def _signed(claims: dict) -> str:
    return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")


@pytest.mark.gen_test
async def test_validate_token_refuses_expired_garbage_and_refresh_tokens(api, make_user):
    user = await make_user()
    past = int(time.time()) - 3600
    expired = _signed({"sub": str(user.id), "type": "access", "iat": past - 10, "exp": past, "jti": "x"})
    forged = jwt.encode({"sub": str(user.id), "type": "access", "iat": past, "exp": past + 7200, "jti": "y"},
                        "some-other-key-that-is-long-enough-for-hs256", algorithm="HS256")
    tokens = (await login(api, user.email)).json()
    for token in (expired, "garbage", forged, tokens["refresh_token"]):
        resp = await api.post("/api/auth/validate-token/", token=token)
        body = assert_envelope(resp, 401, "Token is invalid or expired")
        assert body["valid"] is False
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.gen_test
async def test_validate_token_without_token_is_401_valid_false(api):
    resp = await api.post("/api/auth/validate-token/")
    body = assert_envelope(resp, 401)
    assert body["valid"] is False


# --- refresh and logout -----------------------------------------------------------

@pytest.mark.gen_test
async def test_refresh_rotates_and_reuse_revokes_the_new_token_too(api, make_user):
    user = await make_user()
    first = (await login(api, user.email)).json()

    resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": first["refresh_token"]})
    assert resp.status == 200, resp
    second = resp.json()
    assert set(second) == {"access_token", "refresh_token", "user"}
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.get("/api/profile/", token=second["access_token"])).status == 200

    await age_rotations()
    reuse = await api.post("/api/auth/token/refresh/", json={"refresh_token": first["refresh_token"]})
    assert_envelope(reuse, 401)
    # Reuse means the token leaked: the whole family is revoked.
    resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": second["refresh_token"]})
    assert_envelope(resp, 401)


@pytest.mark.gen_test
async def test_refresh_refuses_access_tokens_and_garbage(api, make_user):
    user = await make_user()
    tokens = (await login(api, user.email)).json()
    for token in (tokens["access_token"], "garbage"):
        resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": token})
        assert_envelope(resp, 401)
    body = assert_envelope(await api.post("/api/auth/token/refresh/", json={}), 400)
    assert body["errors"] == {"refresh_token": ["This field is required."]}


@pytest.mark.gen_test
async def test_logout_revokes_the_refresh_token(api, make_user):
    user = await make_user()
    tokens = (await login(api, user.email)).json()
    resp = await api.post("/api/auth/logout/", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 200 and resp.json()["success"] is True
    resp = await api.post("/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]})
    assert_envelope(resp, 401)


# --- Google sign-in -------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_creates_a_verified_account(api, google_certs):
    resp = await api.post("/api/auth/google/", json={"token": google_token(google_certs), "location": "Nigeria"})
    assert resp.status == 200, resp
    body = resp.json()
    assert set(body) == {"access_token", "refresh_token", "user"}
    assert body["user"]["email"] == "g.user@gmail.com"
    assert body["user"]["location"] == "Nigeria"
    assert body["user"]["is_verified"] is True
    user = await User.aio_get(User.email == "g.user@gmail.com")
    assert user.google_sub == "109876543210" and user.password_hash is None
    assert await Customer.select().where(Customer.user == user.id).aio_exists()
    assert (await api.get("/api/profile/", token=body["access_token"])).status == 200

    again = await api.post("/api/auth/google/", json={"token": google_token(google_certs)})
    assert again.status == 200
    assert again.json()["user"]["id"] == user.id
    assert await User.select().aio_count() == 1


@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_links_an_existing_password_account(api, make_user, google_certs):
    user = await make_user(email="g.user@gmail.com", is_verified=False)
    resp = await api.post("/api/auth/google/", json={"token": google_token(google_certs)})
    assert resp.status == 200, resp
    assert resp.json()["user"]["id"] == user.id
    user = await User.aio_get(User.id == user.id)
    assert user.google_sub == "109876543210" and user.is_verified is True
    # The address was never proved by whoever set that password: it is gone
    # (see test_account_security.py for the pre-registration attack).
    assert user.password_hash is None
    assert (await login(api, "g.user@gmail.com")).status == 401


@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_refuses_bad_tokens(api, google_certs):
    now = int(time.time())
    bad = [
        google_token(google_certs, aud="someone-elses-client"),
        google_token(google_certs, key=google_certs["other_key"]),
        google_token(google_certs, iss="https://evil.example.com"),
        google_token(google_certs, iat=now - 7200, exp=now - 3600),
        "garbage",
    ]
    for token in bad:
        resp = await api.post("/api/auth/google/", json={"token": token})
        assert_envelope(resp, 400, "Invalid token")
    assert not await User.select().aio_exists()


@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_refuses_blocked_customer(api, make_user, google_certs):
    user = await make_user(email="g.user@gmail.com")
    await block(user.id)
    resp = await api.post("/api/auth/google/", json={"token": google_token(google_certs)})
    assert_envelope(resp, 403)


@pytest.mark.gen_test
async def test_google_sign_in_without_client_id_is_400(api, monkeypatch):
    monkeypatch.setattr(settings, "GOOGLE_CLIENT_ID", None)
    resp = await api.post("/api/auth/google/", json={"token": "anything"})
    assert_envelope(resp, 400)


@pytest.mark.gen_test
async def test_token_of_a_deleted_user_is_401(api, make_user):
    user = await make_user()
    token = (await login(api, user.email)).json()["access_token"]
    await User.delete().where(User.id == user.id).aio_execute()
    assert_envelope(await api.get("/api/profile/", token=token), 401)
