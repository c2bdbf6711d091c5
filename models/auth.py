"""Account use cases: registration, login (password and Google), JWTs with
refresh rotation, email verification and password reset.

Sessions (see README, "Sessions"): a login opens an ``AuthSession``; its
refresh tokens rotate within it and its access tokens carry its id (``sid``)
and the user's ``token_version`` (``ver``). Logout revokes the session;
a password reset, refresh-token reuse, blocking or deletion bump the version
and so end every session. The one query that loads the user on each request
reads both, so checking them costs nothing extra; a handler's hot read may
ride along in that same statement (``user_with_read``, ``models.db.RideAlong``).

Links sent by email are single-use, expiring, bound to the address they were
sent to, and stored hashed; the email task derives the link from a nonce in
the row (HMAC with SECRET_KEY), so the broker never carries a usable token.
Emails go out through Celery after the transaction commits.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

import jwt
import orjson
import peewee as pw

import settings
from models.accounts import AuthSession, Customer, OneTimeToken, Profile, RefreshToken, User
from models.db import RideAlong, fetch_prepared, transaction, utcnow
from models.errors import AppError, Forbidden, NotFound, Unauthorized, ValidationFailed
from models.jobs import enqueue
from models.passwords import check_password, hash_password, password_errors

ALGORITHM = "HS256"
INVALID_TOKEN = "Token is invalid or expired"
INVALID_CREDENTIALS = "Invalid credentials"
# One answer for a wrong password and an unknown email (the spec's shape).
BAD_PASSWORD_ERRORS = {"password": ["Invalid password for this account."]}


# --- JWT ---------------------------------------------------------------------

def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def issue_token(user_id: int, kind: str, *, version: int = 0, sid: str | None = None) -> tuple[str, str, dt.datetime]:
    """A signed JWT of ``kind`` (access|refresh): returns (token, jti, expiry).

    ``version`` is the user's token_version and ``sid`` the session: tokens of
    an older version or of a revoked session are refused.
    """
    lifetime = settings.ACCESS_TOKEN_SECONDS if kind == "access" else settings.REFRESH_TOKEN_SECONDS
    now = _now()
    exp = now + dt.timedelta(seconds=lifetime)
    jti = uuid.uuid4().hex
    claims = {"sub": str(user_id), "type": kind, "iat": int(now.timestamp()), "exp": int(exp.timestamp()),
              "jti": jti, "ver": version}
    if sid:
        claims["sid"] = sid
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), jti, exp.replace(tzinfo=None)


def decode_token(token: str, kind: str) -> dict:
    """The claims of a valid, unexpired token of ``kind``; Unauthorized otherwise."""
    claims = _decode_own(token)
    if claims is None:  # not of the shape issue_token writes: PyJWT's generic decoding decides
        try:
            claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                                options={"require": ["sub", "type", "exp", "jti"]})
        except jwt.PyJWTError:
            raise Unauthorized(INVALID_TOKEN) from None
    if claims.get("type") != kind:
        raise Unauthorized(INVALID_TOKEN)
    return claims


# The header issue_token writes (PyJWT's, for HS256), base64url-encoded.
_OWN_HEADER = jwt.encode({}, "k" * 32, algorithm=ALGORITHM).partition(".")[0]
_OWN_CLAIMS = {"sub": str, "type": str, "iat": int, "exp": int, "jti": str, "ver": int, "sid": str}


def _decode_own(token: str) -> dict | None:
    """Every authenticated request decodes a token, and PyJWT's generic path
    (any algorithm, header or claim) costs more than the rest of its checks:
    a token exactly as ``issue_token`` writes it (our header, HMAC-SHA256 with
    SECRET_KEY compared in constant time, our claims with their types) is
    checked here as ``jwt.decode`` would (required claims; expired when exp <=
    now; iat not in the future). Raises Unauthorized for an expired one;
    returns None for anything else, which then goes through ``jwt.decode``."""
    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if header != _OWN_HEADER or not payload or not signature.isascii() or "." in signature:
        return None
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"="), signature.encode()):
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict) or any(claims.get(c) is None for c in ("sub", "type", "exp", "jti")):
        return None
    for name, value in claims.items():
        expected = _OWN_CLAIMS.get(name)
        if expected is None or type(value) is not expected:
            return None
    now = time.time()
    if claims["exp"] <= now or claims.get("iat", 0) > now:
        raise Unauthorized(INVALID_TOKEN)
    return claims


def access_token(user: User, sid: str | None = None) -> str:
    """An access token of ``user`` (of session ``sid`` when given)."""
    return issue_token(user.id, "access", version=user.token_version or 0, sid=sid)[0]


async def _open_session(user: User) -> str:
    sid = uuid.uuid4().hex
    await AuthSession.aio_create(id=sid, user=user.id)
    return sid


async def token_pair(user: User, sid: str | None = None) -> dict[str, str]:
    """A refresh + access token of session ``sid`` (a new session when None)."""
    sid = sid or await _open_session(user)
    refresh, jti, exp = issue_token(user.id, "refresh", version=user.token_version or 0, sid=sid)
    await RefreshToken.aio_create(jti=jti, user=user.id, session=sid, expires_at=exp)
    return {"access_token": access_token(user, sid), "refresh_token": refresh}


def _with_customer(query: pw.ModelSelect) -> pw.ModelSelect:
    return query.select_extend(Customer.status.alias("customer_status")).join(
        Customer, pw.JOIN.LEFT_OUTER, on=(Customer.user == User.id))


def _claim_version(claims: dict) -> int:
    try:
        return int(claims.get("ver", 0))
    except (TypeError, ValueError):
        return -1


_USER_FIELDS = [f.name for f in User._meta.sorted_fields]
_USER_COLUMNS = len(_USER_FIELDS) + 3  # the user's fields, customer status, session id and revoked_at
# The user, their customer status and the token's session (none without a sid).
# (The uuid as text: a UUID parsed on every request only to be written out as text again.)
_USER_SELECT = ("SELECT " + ", ".join(f'u."{f.column_name}"' + ("::text" if isinstance(f, pw.UUIDField) else "")
                                      for f in User._meta.sorted_fields)
                + ", c.status, s.id, s.revoked_at")
_USER_FROM = ("FROM users u LEFT JOIN customer c ON c.user_id = u.id "
              "LEFT JOIN auth_session s ON s.id = %(sid)s AND s.user_id = u.id")
_USER_SQL = f"{_USER_SELECT} {_USER_FROM} WHERE u.id = %(user_id)s"
_with_read_sql: dict[str, str] = {}


def _token_ids(claims: dict) -> tuple[int, str | None]:
    """(user id, session id) an access token names; Unauthorized when the id is no user id."""
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized(INVALID_TOKEN) from None
    if not 0 < user_id <= 2**31 - 1:
        raise Unauthorized(INVALID_TOKEN)
    sid = claims.get("sid")
    return user_id, (str(sid) if sid is not None else None)


def _checked_user(row: tuple | None, claims: dict, sid: str | None) -> User:
    """The user of a ``_USER_SQL`` row, if active, not blocked, of the token's
    version and (with a sid) of an open session; Unauthorized otherwise."""
    user = None
    if row is not None:
        user = User(__no_default__=True, **dict(zip(_USER_FIELDS, row[:_USER_COLUMNS - 3])))  # (no uuid4, no now())
        user.customer_status, user.session_id, user.session_revoked_at = row[_USER_COLUMNS - 3:_USER_COLUMNS]
    if user is None or not user.is_active or getattr(user, "customer_status", None) == "blocked":
        raise Unauthorized(INVALID_TOKEN)
    if _claim_version(claims) != user.token_version:
        raise Unauthorized(INVALID_TOKEN)
    if sid is not None and (getattr(user, "session_id", None) is None
                            or getattr(user, "session_revoked_at", None) is not None):
        raise Unauthorized(INVALID_TOKEN)
    return user


async def user_for_claims(claims: dict) -> User:
    """The active, unblocked user an access token names, if the token's
    version is current and its session still open (one query)."""
    user_id, sid = _token_ids(claims)
    # Every authenticated request runs this: one prepared statement, no ORM query to build.
    rows = await fetch_prepared(_USER_SQL, {"user_id": user_id, "sid": sid})
    return _checked_user(rows[0] if rows else None, claims, sid)


async def user_with_read(claims: dict, read: RideAlong) -> tuple[User, list[tuple]]:
    """``user_for_claims`` and the rows of ``read`` for the token's user id,
    in ONE statement (the read joined to the user's row); the same checks,
    and the rows are never returned when the token is refused."""
    user_id, sid = _token_ids(claims)
    sql = _with_read_sql.get(read.sql)
    if sql is None:
        # TRUE marks the read's rows: a read without any still gives the user's row, NULLs beside it.
        sql = _with_read_sql[read.sql] = (
            f"{_USER_SELECT}, r.* {_USER_FROM} LEFT JOIN (SELECT TRUE, r0.* FROM ({read.sql}) r0) r ON TRUE "
            "WHERE u.id = %(user_id)s")
    rows = await fetch_prepared(sql, {"user_id": user_id, "sid": sid})
    user = _checked_user(rows[0] if rows else None, claims, sid)
    return user, [r[_USER_COLUMNS + 1:] for r in rows if r[_USER_COLUMNS] is not None]


async def end_all_sessions(user_id: int) -> None:
    """Every session of the user ends at once: its access tokens (by version)
    and its refresh tokens. Runs inside the caller's transaction."""
    now = utcnow()
    await User.update(token_version=User.token_version + 1).where(User.id == user_id).aio_execute()
    await AuthSession.update(revoked_at=now).where(
        (AuthSession.user == user_id) & AuthSession.revoked_at.is_null()).aio_execute()
    await RefreshToken.update(revoked_at=now).where(
        (RefreshToken.user == user_id) & RefreshToken.revoked_at.is_null()).aio_execute()


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "uuid": str(user.uuid),
        "email": user.email,
        "full_name": user.full_name,
        "location": user.location,
        "is_verified": user.is_verified,
        "is_staff": user.is_staff,
    }


# --- one-time tokens and uidb64 (the links in emails) -----------------------

def uid_encode(user_id: int) -> str:
    return base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")


def uid_decode(uidb64: str) -> int | None:
    try:
        return int(base64.urlsafe_b64decode(uidb64 + "=" * (-len(uidb64) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_token(nonce: str) -> str:
    """The token of a one-time link, derived from its row's nonce: only a
    holder of SECRET_KEY (the app, the worker) can make it."""
    mac = hmac.new(settings.SECRET_KEY.encode(), f"one-time-link:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def _kill_one_time_tokens(user_id: int, purposes: tuple[str, ...] = ("verify", "reset")) -> None:
    await OneTimeToken.update(used_at=utcnow()).where(
        (OneTimeToken.user == user_id) & OneTimeToken.purpose.in_(purposes) & OneTimeToken.used_at.is_null()
    ).aio_execute()


async def _issue_one_time_token(user: User, purpose: str) -> OneTimeToken:
    """Invalidate the user's unused links of ``purpose`` and make a new one,
    bound to the user's current address."""
    lifetime = settings.VERIFY_TOKEN_SECONDS if purpose == "verify" else settings.RESET_TOKEN_SECONDS
    await _kill_one_time_tokens(user.id, (purpose,))
    nonce = secrets.token_urlsafe(32)
    return await OneTimeToken.aio_create(user=user.id, purpose=purpose, email=user.email, nonce=nonce,
                                         token_hash=_hash(link_token(nonce)),
                                         expires_at=utcnow() + dt.timedelta(seconds=lifetime))


async def _new_one_time_token(user: User, purpose: str) -> str:
    """A new link token of ``purpose`` for ``user`` (the old ones die)."""
    return link_token((await _issue_one_time_token(user, purpose)).nonce)


async def one_time_link(token_id: int) -> tuple[str, str, User] | None:
    """(address, link token, user) of an unused, unexpired one-time token row,
    for the email task; None when the link is dead (used, expired, superseded,
    or the account's address changed since)."""
    rows = await (OneTimeToken.select(OneTimeToken, User).join(User).where(
        (OneTimeToken.id == token_id) & OneTimeToken.used_at.is_null() & (OneTimeToken.expires_at > utcnow())
    ).aio_execute())
    if not rows or rows[0].nonce is None:
        return None
    row = rows[0]
    if row.email is not None and row.email != row.user.email:
        return None
    return row.email or row.user.email, link_token(row.nonce), row.user


async def _consume_one_time_token(uidb64: str, raw: str, purpose: str) -> User | None:
    """Mark a valid token used and return its user; None when invalid (also
    when the account's address is no longer the one the link was sent to)."""
    user_id = uid_decode(uidb64)
    if user_id is None:
        return None
    rows = await (OneTimeToken.select().where(
        (OneTimeToken.token_hash == _hash(raw)) & (OneTimeToken.purpose == purpose)
        & (OneTimeToken.user == user_id) & OneTimeToken.used_at.is_null()
        & (OneTimeToken.expires_at > utcnow())
    ).for_update().aio_execute())
    if not rows:
        return None
    users = await User.select().where(User.id == user_id).for_update().aio_execute()
    user = users[0] if users else None
    if user is None or (rows[0].email is not None and rows[0].email != user.email):
        return None
    await OneTimeToken.update(used_at=utcnow()).where(OneTimeToken.id == rows[0].id).aio_execute()
    return user


# --- use cases ---------------------------------------------------------------

def normalize_email(email: str) -> str:
    return email.strip().lower()


async def _create_account(email: str, password_hash: str | None, *, full_name: str = "", location: str = "",
                          is_verified: bool = False, is_staff: bool = False, google_sub: str | None = None) -> User:
    """User + Profile + Customer, inside the caller's transaction."""
    try:
        async with transaction():
            user = await User.aio_create(email=email, password_hash=password_hash, full_name=full_name,
                                         location=location, is_verified=is_verified, is_staff=is_staff,
                                         google_sub=google_sub)
    except pw.IntegrityError:
        raise ValidationFailed.field("email", "User with this email address already exists.") from None
    await Profile.aio_create(user=user.id)
    customer = await Customer.aio_get_or_none(Customer.email == email)
    if customer is None:
        await Customer.aio_create(user=user.id, email=email, name=full_name)
    elif customer.user_id is None:  # an admin-created customer now registers
        await Customer.update(user=user.id).where(Customer.id == customer.id).aio_execute()
    return user


async def register(email: str, password: str, location: str = "", full_name: str = "") -> tuple[User, str]:
    """Create an account and send the verification email.

    Raises ValidationFailed for a taken email or a weak password.
    """
    email = normalize_email(email)
    problems = password_errors(password)
    if problems:
        raise ValidationFailed(errors={"password": problems})
    if await User.select().where(User.email == email).aio_exists():
        raise ValidationFailed.field("email", "User with this email address already exists.")
    hashed = await hash_password(password)
    async with transaction():
        user = await _create_account(email, hashed, full_name=full_name, location=location)
        link = await _issue_one_time_token(user, "verify")
        await enqueue("tasks.emails.send_verification_email", link.id)
    return user, access_token(user)


async def login(email: str, password: str) -> dict[str, Any]:
    """Password login. Raises Unauthorized for bad credentials, Forbidden when blocked.

    An unknown email, a Google-only account and a wrong password get the same
    answer in the same time (a dummy hash of the configured cost is checked).
    """
    email = normalize_email(email)
    rows = await _with_customer(User.select().where(User.email == email)).objects().aio_execute()
    user = rows[0] if rows else None
    if not await check_password(password, user.password_hash if user else None):
        raise Unauthorized(INVALID_CREDENTIALS, BAD_PASSWORD_ERRORS)
    return await _start_session(user)


async def _start_session(user: User) -> dict[str, Any]:
    if not user.is_active or getattr(user, "customer_status", None) == "blocked":
        raise Forbidden("This account has been blocked.")
    async with transaction():
        await User.update(last_login=utcnow()).where(User.id == user.id).aio_execute()
        tokens = await token_pair(user)
    return {**tokens, "user": user_payload(user)}


def _verify_google_token(token: str) -> dict:
    from google.auth.transport import requests as google_requests
    from google.oauth2 import id_token

    return id_token.verify_token(token, google_requests.Request(), audience=settings.GOOGLE_CLIENT_ID,
                                 certs_url=settings.GOOGLE_CERTS_URL, clock_skew_in_seconds=10)


async def google_login(token: str, location: str = "") -> dict[str, Any]:
    """Sign in (creating the account on first use) with a Google ID token."""
    if not settings.GOOGLE_CLIENT_ID:
        raise AppError("Google sign-in is not configured")
    loop = asyncio.get_running_loop()
    try:
        info = await loop.run_in_executor(None, functools.partial(_verify_google_token, token))
    except Exception:  # google-auth raises ValueError and transport errors alike
        raise AppError("Invalid token") from None
    if info.get("iss") not in ("accounts.google.com", "https://accounts.google.com") or not info.get("email"):
        raise AppError("Invalid token")
    email, sub = normalize_email(info["email"]), str(info["sub"])
    verified = bool(info.get("email_verified"))
    async with transaction():
        rows = await User.select().where((User.google_sub == sub) | (User.email == email)).order_by(
            pw.fn.COALESCE(User.google_sub == sub, False).desc()).for_update().aio_execute()  # the Google id first
        user = rows[0] if rows else None
        if user is None:
            user = await _create_account(email, None, full_name=info.get("name", ""), location=location,
                                         is_verified=verified, google_sub=sub)
        elif user.google_sub is None:
            # Linking by address: only when Google vouches for the address.
            if not verified:
                raise AppError("This email address is already registered. Sign in with your password.")
            changes: dict[str, Any] = {"google_sub": sub, "is_verified": True}
            if not user.is_verified and user.password_hash is not None:
                # Whoever registered this address never proved it was theirs:
                # their password and sessions end (no pre-registered way in).
                changes["password_hash"] = None
                await end_all_sessions(user.id)
                await _kill_one_time_tokens(user.id)
            await User.update(**changes).where(User.id == user.id).aio_execute()
        elif verified and not user.is_verified and user.email == email:
            await User.update(is_verified=True).where(User.id == user.id).aio_execute()
    rows = await _with_customer(User.select().where(User.id == user.id)).objects().aio_execute()
    return await _start_session(rows[0])


async def verify_email(token: str, uidb64: str) -> User:
    async with transaction():
        user = await _consume_one_time_token(uidb64, token, "verify")
        if user is None:
            raise AppError("Invalid verification link")
        await User.update(is_verified=True).where(User.id == user.id).aio_execute()
        user.is_verified = True
    return user


async def resend_verification(email: str) -> None:
    user = await User.aio_get_or_none((User.email == normalize_email(email)) & (User.is_verified == False))  # noqa: E712
    if user is None:
        raise NotFound("No unverified user found with this email")
    async with transaction():
        link = await _issue_one_time_token(user, "verify")
        await enqueue("tasks.emails.send_verification_email", link.id)


async def forgot_password(email: str) -> None:
    user = await User.aio_get_or_none((User.email == normalize_email(email)) & (User.is_active == True))  # noqa: E712
    if user is None:
        raise NotFound("No user found with this email address")
    async with transaction():
        link = await _issue_one_time_token(user, "reset")
        await enqueue("tasks.emails.send_password_reset_email", link.id)


async def reset_password(uidb64: str, token: str, password: str) -> None:
    """Set a new password from a reset link; the link works once; every session ends."""
    problems = password_errors(password)
    if problems:
        raise ValidationFailed(errors={"password": problems})
    hashed = await hash_password(password)
    async with transaction():
        user = await _consume_one_time_token(uidb64, token, "reset")
        if user is None:
            raise AppError("Invalid reset link")
        await User.update(password_hash=hashed).where(User.id == user.id).aio_execute()
        await end_all_sessions(user.id)


async def refresh(refresh_token: str) -> dict[str, Any]:
    """Rotate a refresh token within its session. Reusing a rotated token is
    refused and, as it means the token leaked, ends every session of that user."""
    claims = decode_token(refresh_token, "refresh")
    async with transaction():
        rows = await RefreshToken.select().where(RefreshToken.jti == claims["jti"]).for_update().aio_execute()
        record = rows[0] if rows else None
        if record is None:
            raise Unauthorized(INVALID_TOKEN)
        if record.revoked_at is not None:
            # Reuse of a rotated token of a live session means it leaked. A token
            # of an ended session (logout, reset, block) is just dead: replaying
            # it must not let its holder end the owner's newer sessions.
            session = await AuthSession.aio_get_or_none(AuthSession.id == record.session_id) \
                if record.session_id else None
            if record.session_id is None or (session is not None and session.revoked_at is None):
                await end_all_sessions(record.user_id)
            reuse = True
        else:
            reuse = False
            await RefreshToken.update(revoked_at=utcnow()).where(RefreshToken.jti == record.jti).aio_execute()
    if reuse:
        raise Unauthorized(INVALID_TOKEN)
    user = await user_for_claims({"sub": record.user_id, "ver": claims.get("ver", 0),
                                  **({"sid": record.session_id} if record.session_id else {})})
    async with transaction():
        tokens = await token_pair(user, record.session_id)
    return {**tokens, "user": user_payload(user)}


async def logout(refresh_token: str) -> None:
    """End the session of ``refresh_token``: its refresh and access tokens."""
    claims = decode_token(refresh_token, "refresh")
    now = utcnow()
    async with transaction():
        rows = await RefreshToken.select().where(RefreshToken.jti == claims["jti"]).aio_execute()
        if not rows:
            return
        await RefreshToken.update(revoked_at=now).where(
            (RefreshToken.jti == claims["jti"]) & RefreshToken.revoked_at.is_null()).aio_execute()
        if rows[0].session_id:
            await AuthSession.update(revoked_at=now).where(
                (AuthSession.id == rows[0].session_id) & AuthSession.revoked_at.is_null()).aio_execute()
            await RefreshToken.update(revoked_at=now).where(
                (RefreshToken.session == rows[0].session_id) & RefreshToken.revoked_at.is_null()).aio_execute()


async def create_admin(email: str, password: str) -> User:
    """Create a staff user, or promote an existing one and set its password."""
    email = normalize_email(email)
    hashed = await hash_password(password)
    async with transaction():
        user = await User.aio_get_or_none(User.email == email)
        if user is None:
            return await _create_account(email, hashed, is_staff=True, is_verified=True)
        await User.update(is_staff=True, password_hash=hashed, is_active=True).where(
            User.id == user.id).aio_execute()
    return await User.aio_get(User.id == user.id)
