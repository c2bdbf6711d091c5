"""Account security, each test written as the attack it stops:
credential limits a token cannot switch off, no account enumeration, email
changes that cannot hijack links, sessions that end when they should, no
pre-registration takeover through Google, image bombs, Host-header links,
security headers, absurd page numbers and self-votes."""
from __future__ import annotations

import io
import os
import re
import struct
import zlib

import bcrypt
import pytest

import settings
from models.accounts import passwords
from models.accounts.tables import Customer, OneTimeToken, User
from tests.support.accounts import RESET_LINK, VERIFY_LINK, age_rotations, block, link_in, login, register
from tests.support.client import assert_envelope, multipart
from tests.support.factories import make_order, product
from tests.support.fakes import google_token
from tests.support.mail import mail_body, wait_for_mail

PASSWORD = "password123"


# --- 1. credential limits ---------------------------------------------------------

@pytest.fixture
def strict_limits(monkeypatch):
    """The production defaults for the credential and user buckets."""
    monkeypatch.setattr(settings, "RATE_LIMIT_AUTH", "5/minute")
    monkeypatch.setattr(settings, "RATE_LIMIT_USER", "1200/minute")
    monkeypatch.setattr(settings, "RATE_LIMIT_ANON", "300/minute")


@pytest.mark.gen_test
async def test_a_customer_token_does_not_lift_the_login_limit(api, make_user, strict_limits):
    await make_user(email="staff@example.com", is_staff=True, password="the-real-password")
    customer = await make_user(email="attacker@example.com")  # registration hands out tokens freely
    statuses = []
    for guess in range(6):
        resp = await api.post("/api/auth/login/", user=customer,
                              json={"email": "staff@example.com", "password": f"guess-{guess}-xx"})
        statuses.append(resp.status)
    assert statuses == [401] * 5 + [429]
    # The right password does not get through either while the bucket is empty.
    resp = await api.post("/api/auth/login/", user=customer,
                          json={"email": "staff@example.com", "password": "the-real-password"})
    assert_envelope(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1


@pytest.mark.gen_test
async def test_a_token_does_not_lift_the_reset_email_limit(api, make_user, strict_limits):
    victim = await make_user(email="victim@example.com")
    customer = await make_user(email="attacker@example.com")
    statuses = [(await api.post("/api/forgot-password/", user=customer, json={"email": victim.email})).status
                for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    # Garbage in the Authorization header does not help either.
    resp = await api.post("/api/forgot-password/", token="garbage", json={"email": victim.email})
    assert_envelope(resp, 429)


@pytest.mark.gen_test
async def test_login_is_limited_per_email_across_ips(api, make_user, strict_limits, monkeypatch):
    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    await make_user(email="victim@example.com")
    for i in range(5):
        resp = await api.post("/api/auth/login/", headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
                              json={"email": "Victim@Example.com", "password": f"guess-{i}-xxxx"})
        assert resp.status == 401, resp
    # A sixth address gets no fresh guesses at the same account ...
    resp = await api.post("/api/auth/login/", headers={"X-Forwarded-For": "203.0.113.99"},
                          json={"email": "victim@example.com", "password": "guess-6-xxxx"})
    assert_envelope(resp, 429)
    # ... while another account from that address is not affected.
    resp = await api.post("/api/auth/login/", headers={"X-Forwarded-For": "203.0.113.99"},
                          json={"email": "other@example.com", "password": "guess-7-xxxx"})
    assert resp.status == 401


@pytest.mark.gen_test
async def test_each_credential_endpoint_has_its_own_bucket(api, make_user, strict_limits):
    await make_user(email="me@example.com")
    for _ in range(5):
        await api.post("/api/auth/login/", json={"email": "me@example.com", "password": "wrong-password"})
    assert_envelope(await api.post("/api/auth/login/", json={"email": "me@example.com", "password": PASSWORD}), 429)
    # A newcomer who fumbled the login can still reset the password and register.
    assert (await api.post("/api/forgot-password/", json={"email": "me@example.com"})).status == 200
    assert (await register(api, email="second@example.com")).status == 201
    assert (await api.post("/api/waitlist/signup/", json={"email": "w@example.com"})).status == 201


@pytest.mark.gen_test
async def test_ipv6_clients_are_counted_per_64(api, monkeypatch):
    monkeypatch.setattr(settings, "RATE_LIMIT_ANON", "2/minute")
    monkeypatch.setattr(settings, "TRUST_PROXY", True)

    async def get(ip):
        return (await api.get("/api/preview_email/", headers={"X-Forwarded-For": ip})).status

    assert await get("2001:db8:1:2::1") == 200
    assert await get("2001:db8:1:2:ffff::7") == 200
    assert await get("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == 429  # same /64, new address
    assert await get("2001:db8:1:3::1") == 200  # the next /64 is someone else


# --- 2. enumeration ---------------------------------------------------------------------

@pytest.mark.gen_test
async def test_login_says_the_same_for_unknown_email_and_wrong_password(api, make_user):
    await make_user(email="exists@example.com")
    await User.aio_create(email="google.only@example.com", password_hash=None)
    wrong = await login(api, "exists@example.com", "wrong-password")
    unknown = await login(api, "nobody@example.com", "wrong-password")
    no_password = await login(api, "google.only@example.com", "wrong-password")
    assert wrong.status == unknown.status == no_password.status == 401
    assert wrong.json() == unknown.json() == no_password.json() == {
        "status": "error", "success": False, "message": "Invalid credentials",
        "errors": {"password": ["Invalid email or password."]}, "detail": "Invalid credentials"}


@pytest.mark.gen_test
async def test_unknown_email_costs_a_hash_at_the_configured_cost(api, monkeypatch):
    """Same time: the dummy hash has the cost of real ones (it was cost 4 against 12)."""
    monkeypatch.setattr(settings, "BCRYPT_ROUNDS", 7)
    checked = []
    real_checkpw = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: checked.append(hashed) or real_checkpw(pw, hashed))
    assert (await login(api, "nobody@example.com", "wrong-password")).status == 401
    [hashed] = checked
    assert hashed.startswith(b"$2b$07$")
    assert passwords._dummy_hash() is passwords._dummy_hash()  # made once


# --- 3. email change ----------------------------------------------------------------------

@pytest.mark.gen_test(timeout=90)
async def test_email_change_link_attack(api, mailbox):
    """Register, change the address to someone else's, click the first link: the
    new address must not become verified, and old reset links must die."""
    token = (await register(api, email="attacker@example.com")).json()["token"]
    [first] = await wait_for_mail(1)
    old_verify = "/api" + link_in(first, VERIFY_LINK).group(1)
    user = await User.aio_get(User.email == "attacker@example.com")
    assert (await api.post("/api/forgot-password/", json={"email": "attacker@example.com"})).status == 200
    mails = await wait_for_mail(2)
    [reset_msg] = [m for m in mails if "reset" in m["Subject"].lower()]
    uidb64, reset_token = link_in(reset_msg, RESET_LINK).groups()

    # The change needs the current password.
    resp = await api.patch("/api/profile/update-details/", token=token, json={"email": "victim@example.com"})
    assert assert_envelope(resp, 400)["errors"] == {
        "current_password": ["Enter your current password to change your email address."]}
    resp = await api.patch("/api/profile/update-details/", token=token,
                           json={"email": "victim@example.com", "current_password": "not-my-password"})
    assert assert_envelope(resp, 400)["errors"] == {"current_password": ["Your current password is incorrect."]}
    assert (await User.aio_get(User.id == user.id)).email == "attacker@example.com"

    shutil_mail()
    resp = await api.patch("/api/profile/update-details/", token=token,
                           json={"email": "victim@example.com", "current_password": PASSWORD})
    assert resp.status == 200, resp
    assert resp.json()["email"] == "victim@example.com"

    # The link mailed to the old address verifies nothing any more.
    assert_envelope(await api.get(old_verify), 400, "Invalid verification link")
    assert (await User.aio_get(User.id == user.id)).is_verified is False
    # The reset link mailed to the old address is dead too.
    resp = await api.post(f"/api/reset-password/{uidb64}/{reset_token}/", json={"password": "taken-over-pass"})
    assert_envelope(resp, 400, "Invalid reset link")

    # The new address got a verification link, the old one a notice.
    mails = await wait_for_mail(2)
    by_to = {m["To"]: m for m in mails}
    assert set(by_to) == {"victim@example.com", "attacker@example.com"}
    notice = by_to["attacker@example.com"]
    assert notice["Subject"] == "The email address of your AvantLush account was changed"
    assert "victim@example.com" in mail_body(notice)
    new_verify = "/api" + link_in(by_to["victim@example.com"], VERIFY_LINK).group(1)
    assert (await api.get(new_verify)).status == 200
    fresh = await User.aio_get(User.id == user.id)
    assert fresh.email == "victim@example.com" and fresh.is_verified is True


def shutil_mail():
    import shutil

    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)


@pytest.mark.gen_test
async def test_a_link_is_bound_to_the_address_it_was_sent_to(api, make_user):
    """Even a link that escaped the clean-up stops working once the address changes."""
    from models.accounts import tokens

    user = await make_user(email="first@example.com", is_verified=False)
    raw = await tokens.new_one_time_token(user, "verify")
    await User.update(email="second@example.com").where(User.id == user.id).aio_execute()
    resp = await api.get(f"/api/verify-email/{raw}/{tokens.uid_encode(user.id)}/")
    assert_envelope(resp, 400, "Invalid verification link")
    assert (await User.aio_get(User.id == user.id)).is_verified is False


@pytest.mark.gen_test(timeout=60)
async def test_the_broker_never_carries_a_usable_link_token(api, make_user, mailbox, monkeypatch):
    import models.accounts.actions
    import models.accounts.passwords
    import models.core.jobs

    sent = []
    real = models.core.jobs.enqueue

    async def spy(name, *args, **options):
        sent.append((name, args))
        await real(name, *args, **options)

    monkeypatch.setattr(models.accounts.actions, "enqueue", spy)  # registration
    monkeypatch.setattr(models.accounts.passwords, "enqueue", spy)  # password reset
    await register(api, email="ada@example.com")
    assert (await api.post("/api/forgot-password/", json={"email": "ada@example.com"})).status == 200
    mails = await wait_for_mail(2)
    tokens = [link_in(m, VERIFY_LINK).group(1).split("/")[2] for m in mails if "Verify" in m["Subject"]]
    tokens += [link_in(m, RESET_LINK).group(2) for m in mails if "Reset" in m["Subject"]]
    assert len(tokens) == 2 and len(sent) == 2
    for name, args in sent:
        assert all(isinstance(a, int) for a in args), (name, args)  # ids only
        assert not any(t in repr(args) for t in tokens)
    # Nor does the outbox the relay publishes from.
    from models.core.db import fetch_all

    jobs = await fetch_all("SELECT task, args::text FROM outbox_job")
    assert len(jobs) == 2 and not any(t in args for _, args in jobs for t in tokens)
    # The database keeps only the hash of each link token, and its nonce.
    rows = list(await OneTimeToken.select().aio_execute())
    assert not any(t in (r.token_hash, r.nonce) for r in rows for t in tokens)


# --- 4. sessions ----------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_access_token_stops_working_after_logout(api, make_user):
    user = await make_user()
    phone = (await login(api, user.email)).json()
    laptop = (await login(api, user.email)).json()
    assert (await api.get("/api/profile/", token=phone["access_token"])).status == 200
    resp = await api.post("/api/auth/logout/", json={"refresh_token": phone["refresh_token"]})
    assert resp.status == 200
    assert_envelope(await api.get("/api/profile/", token=phone["access_token"]), 401)
    # Only that session ended.
    assert (await api.get("/api/profile/", token=laptop["access_token"])).status == 200


@pytest.mark.gen_test
async def test_access_token_of_a_refreshed_session_ends_with_logout(api, make_user):
    user = await make_user()
    first = (await login(api, user.email)).json()
    second = (await api.post("/api/auth/token/refresh/", json={"refresh_token": first["refresh_token"]})).json()
    await api.post("/api/auth/logout/", json={"refresh_token": second["refresh_token"]})
    for token in (first["access_token"], second["access_token"]):
        assert_envelope(await api.get("/api/profile/", token=token), 401)


@pytest.mark.gen_test
async def test_password_reset_ends_every_session(api, make_user):
    from models.accounts import tokens

    user = await make_user(email="reset@example.com")
    sessions = [(await login(api, user.email)).json() for _ in range(2)]
    raw = await tokens.new_one_time_token(user, "reset")
    resp = await api.post(f"/api/reset-password/{tokens.uid_encode(user.id)}/{raw}/", json={"password": "new-password-1"})
    assert resp.status == 200
    for s in sessions:
        assert_envelope(await api.get("/api/profile/", token=s["access_token"]), 401)
        assert_envelope(await api.post("/api/auth/token/refresh/", json={"refresh_token": s["refresh_token"]}), 401)
    fresh = (await login(api, user.email, "new-password-1")).json()
    assert (await api.get("/api/profile/", token=fresh["access_token"])).status == 200


@pytest.mark.gen_test
async def test_refresh_token_reuse_ends_every_session(api, make_user):
    user = await make_user()
    stolen = (await login(api, user.email)).json()
    other = (await login(api, user.email)).json()
    rotated = (await api.post("/api/auth/token/refresh/", json={"refresh_token": stolen["refresh_token"]})).json()
    # The thief replays the old refresh token (after the grace of two tabs): detected, every session ends.
    await age_rotations()
    assert_envelope(await api.post("/api/auth/token/refresh/", json={"refresh_token": stolen["refresh_token"]}), 401)
    for token in (stolen["access_token"], rotated["access_token"], other["access_token"]):
        assert_envelope(await api.get("/api/profile/", token=token), 401)


@pytest.mark.gen_test
async def test_replaying_a_logged_out_refresh_token_cannot_end_the_owners_sessions(api, make_user):
    user = await make_user()
    old = (await login(api, user.email)).json()
    await api.post("/api/auth/logout/", json={"refresh_token": old["refresh_token"]})
    current = (await login(api, user.email)).json()
    assert_envelope(await api.post("/api/auth/token/refresh/", json={"refresh_token": old["refresh_token"]}), 401)
    assert (await api.get("/api/profile/", token=current["access_token"])).status == 200


@pytest.mark.gen_test
async def test_blocking_ends_every_session_for_good(api, make_user):
    user = await make_user()
    tokens = (await login(api, user.email)).json()
    await block(user.id)
    await Customer.update(status="active").where(Customer.user == user.id).aio_execute()
    # Unblocked later: the tokens from before the block stay dead.
    assert_envelope(await api.get("/api/profile/", token=tokens["access_token"]), 401)
    assert_envelope(await api.post("/api/auth/token/refresh/", json={"refresh_token": tokens["refresh_token"]}), 401)
    assert (await login(api, user.email)).status == 200


@pytest.mark.gen_test
async def test_session_checks_cost_no_extra_query(api, make_user, count_queries):
    user = await make_user()
    tokens = (await login(api, user.email)).json()
    with count_queries() as queries:
        resp = await api.post("/api/auth/validate-token/", token=tokens["access_token"])
    assert resp.status == 200
    assert len(queries) == 1, queries  # user, customer status, version and session in one statement


# Reads that ride along with the user lookup (BaseHandler.reads): the whole request is one
# statement, and every check of the lookup still holds on those endpoints.
RIDE_ALONG = [("/api/cart/", False), ("/api/cart/summary/", False),
              ("/api/dashboard/recent_orders/", True), ("/api/dashboard/overview_metrics/?period=year", True)]


@pytest.mark.gen_test
async def test_ride_along_endpoints_cost_one_statement(api, make_user, count_queries):
    from models.dashboard.metrics import has_cart_tables

    await has_cart_tables()  # remembered per process: not a statement of the requests below
    await product("Lamp", images=1)  # the version rows the dashboard's cache keys on: catalog, orders
    await make_order(await Customer.aio_get(Customer.user == (await make_user()).id))
    shopper = (await login(api, (await make_user()).email)).json()["access_token"]
    staff = (await login(api, (await make_user(is_staff=True)).email)).json()["access_token"]
    for path, admin_only in RIDE_ALONG:
        token = staff if admin_only else shopper
        assert (await api.get(path, token=token)).status == 200  # (the dashboard's answer is now cached)
        with count_queries() as queries:
            resp = await api.get(path, token=token)
        assert resp.status == 200, resp
        assert len(queries) == 1, (path, queries)  # user, session, customer status and the read


@pytest.mark.gen_test
async def test_ride_along_endpoints_refuse_what_the_user_lookup_refuses(api, make_user):
    shopper, staff = await make_user(), await make_user(is_staff=True)
    for path, admin_only in RIDE_ALONG:
        user = staff if admin_only else shopper
        if admin_only:  # a valid customer token on an admin read: 403, however the read went
            customer = (await login(api, shopper.email)).json()["access_token"]
            assert_envelope(await api.get(path, token=customer), 403)
        assert_envelope(await api.get(path), 401)
        assert_envelope(await api.get(path, token="not-a-token"), 401)
        # An ended session: refused on the very next request.
        tokens = (await login(api, user.email)).json()
        assert (await api.get(path, token=tokens["access_token"])).status == 200
        await api.post("/api/auth/logout/", json={"refresh_token": tokens["refresh_token"]})
        assert_envelope(await api.get(path, token=tokens["access_token"]), 401)
        # A blocked customer: refused on the very next request. Blocking also bumps the version (a
        # trigger); that is undone here, so that the customer status alone must refuse the token.
        token = await _token(user.id)
        assert (await api.get(path, token=token)).status == 200
        await Customer.update(status="blocked").where(Customer.user == user.id).aio_execute()
        await User.update(token_version=User.token_version - 1).where(User.id == user.id).aio_execute()
        assert_envelope(await api.get(path, token=token), 401)
        await Customer.update(status="active").where(Customer.user == user.id).aio_execute()
        # A token of an older version (a password reset), and a deactivated user.
        token = await _token(user.id)
        assert (await api.get(path, token=token)).status == 200
        await User.update(token_version=User.token_version + 1).where(User.id == user.id).aio_execute()
        assert_envelope(await api.get(path, token=token), 401)
        token = await _token(user.id)
        await User.update(is_active=False).where(User.id == user.id).aio_execute()
        assert_envelope(await api.get(path, token=token), 401)
        await User.update(is_active=True).where(User.id == user.id).aio_execute()


async def _token(user_id: int) -> str:
    """An access token of the user's current version (no session)."""
    from models.accounts import tokens

    return tokens.access_token(await User.aio_get(User.id == user_id))


# --- 5. Google pre-registration --------------------------------------------------------------

@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_evicts_a_pre_registered_password(api, google_certs):
    """The attacker registers the victim's gmail first, with their own password."""
    assert (await register(api, email="g.user@gmail.com", password="attackers-password")).status == 201
    attacker = (await login(api, "g.user@gmail.com", "attackers-password")).json()

    victim = await api.post("/api/auth/google/", json={"token": google_token(google_certs)})
    assert victim.status == 200, victim
    assert victim.json()["user"]["is_verified"] is True

    assert_envelope(await login(api, "g.user@gmail.com", "attackers-password"), 401)
    assert_envelope(await api.get("/api/profile/", token=attacker["access_token"]), 401)
    assert_envelope(await api.post("/api/auth/token/refresh/",
                                   json={"refresh_token": attacker["refresh_token"]}), 401)
    user = await User.aio_get(User.email == "g.user@gmail.com")
    assert user.password_hash is None and user.google_sub == "109876543210"
    assert (await api.get("/api/profile/", token=victim.json()["access_token"])).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_google_sign_in_keeps_the_password_of_a_verified_owner(api, make_user, google_certs):
    await make_user(email="g.user@gmail.com", is_verified=True)
    assert (await api.post("/api/auth/google/", json={"token": google_token(google_certs)})).status == 200
    assert (await login(api, "g.user@gmail.com")).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_google_token_with_unverified_email_does_not_link(api, make_user, google_certs):
    user = await make_user(email="g.user@gmail.com", is_verified=False)
    resp = await api.post("/api/auth/google/", json={"token": google_token(google_certs, email_verified=False)})
    assert_envelope(resp, 400)
    assert (await User.aio_get(User.id == user.id)).google_sub is None


# --- 6. image bombs ------------------------------------------------------------------------

def _png(width: int, height: int, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A real, complete PNG of ``width`` × ``height`` (1-bit grey: tiny on disk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((width * bit_depth + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


async def _upload(api, user, data: bytes):
    body, headers = multipart({"photo": ("me.png", data, "image/png")})
    return await api.post("/api/profile/upload_photo/", body=body, headers=headers, user=user)


@pytest.mark.gen_test(timeout=60)
async def test_pixel_bomb_is_refused(api, make_user):
    user = await make_user()
    bomb = _png(10_000, 10_000)  # 100 megapixels in about 12 kB
    assert len(bomb) < 100_000
    body = assert_envelope(await _upload(api, user, bomb), 400)
    assert body["errors"] == {"photo": ["Image dimensions are too large."]}
    # One side too long, or too many pixels within the side limit.
    assert_envelope(await _upload(api, user, _png(8_001, 1)), 400)
    assert_envelope(await _upload(api, user, _png(7_000, 7_000)), 400)
    assert (await _upload(api, user, _png(800, 600))).status == 200


@pytest.mark.gen_test
async def test_truncated_png_is_refused(api, make_user):
    from PIL import Image

    user = await make_user()
    buf = io.BytesIO()
    Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)).save(buf, format="PNG")
    data = buf.getvalue()
    body = assert_envelope(await _upload(api, user, data[: len(data) * 2 // 3]), 400)
    assert body["errors"] == {"photo": ["Upload a valid image. The file is not a JPG or PNG image."]}
    assert (await _upload(api, user, data)).status == 200


# --- 7. links, headers, pages, votes ------------------------------------------------------------

@pytest.mark.gen_test
async def test_host_header_does_not_steer_links(api):
    for i in range(3):
        await product(f"Chair {i}")
    resp = await api.get("/api/products/?page_size=1&page=2", headers={"Host": "evil.example"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["next"].startswith("http://testserver/api/products/?")
    assert body["previous"].startswith("http://testserver/api/products/?")
    assert "evil" not in resp.text


@pytest.mark.gen_test
async def test_security_headers(api, make_user):
    for resp in (await api.get("/api/health/"), await api.get("/api/profile/"), await api.get("/api/nope/")):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "tornado" not in resp.headers.get("Server", "").lower()
        assert "Content-Security-Policy" not in resp.headers
    page = await api.get("/preview_email/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "AvantLush" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    # Uploaded files too.
    (settings.MEDIA_DIR / "t").mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_DIR / "t" / "x.png").write_bytes(_png(4, 4))
    media = await api.get("/media/t/x.png")
    assert media.status == 200 and media.headers["X-Content-Type-Options"] == "nosniff"
    assert "tornado" not in media.headers.get("Server", "").lower()


@pytest.mark.gen_test
async def test_absurd_page_numbers_are_404(api, make_user):
    await product("Chair")
    admin = await make_user(is_staff=True)
    for path in ("/api/products/", "/api/products/search/?q=chair&", "/api/dashboard/product_management_data/"):
        sep = "&" if "?" in path else "?"
        for page in ("99999999999999999999", "2147483648", "2"):
            resp = await api.get(f"{path}{sep}page={page}".replace("&&", "&"), user=admin)
            assert_envelope(resp, 404)


@pytest.mark.gen_test
async def test_author_cannot_mark_own_review_helpful(api, make_user):
    author = await make_user()
    pid = await product("Sofa")
    review = (await api.post(f"/api/products/{pid}/reviews/", user=author,
                             json={"rating": 5, "content": "Mine is great"})).json()
    resp = await api.post(f"/api/reviews/{review['id']}/mark-helpful/", user=author)
    body = assert_envelope(resp, 400, "You cannot mark your own review as helpful.")
    assert body["errors"] == {"non_field_errors": ["You cannot mark your own review as helpful."]}
    other = await make_user()
    assert (await api.post(f"/api/reviews/{review['id']}/mark-helpful/", user=other)).json()["helpful_count"] == 1


def test_development_secret_key_file_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path)
    key = settings._secret_key()
    path = tmp_path / "secret_key"
    assert path.read_text().strip() == key and len(key) > 40
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)  # made by an older version
    assert settings._secret_key() == key
    assert path.stat().st_mode & 0o777 == 0o600


def test_link_tokens_need_the_secret_key():
    from models.accounts.tokens import link_token

    assert link_token("nonce") != link_token("nonce2")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", link_token("nonce"))
