"""Account use cases: registration, login (password and Google), JWTs with
refresh rotation, email verification and password reset.

Tokens sent by email are random, single-use, expiring, and stored hashed.
Emails go out through Celery after the transaction commits.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import secrets
import uuid
from typing import Any

import jwt
import peewee as pw

import settings
from models.accounts import Customer, OneTimeToken, Profile, RefreshToken, User
from models.db import fetch_prepared, transaction, utcnow
from models.errors import AppError, Forbidden, NotFound, Unauthorized, ValidationFailed
from models.jobs import enqueue
from models.passwords import check_password, hash_password, password_errors

ALGORITHM = "HS256"
INVALID_TOKEN = "Token is invalid or expired"


# --- JWT ---------------------------------------------------------------------

def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def issue_token(user_id: int, kind: str) -> tuple[str, str, dt.datetime]:
    """A signed JWT of ``kind`` (access|refresh): returns (token, jti, expiry)."""
    lifetime = settings.ACCESS_TOKEN_SECONDS if kind == "access" else settings.REFRESH_TOKEN_SECONDS
    now = _now()
    exp = now + dt.timedelta(seconds=lifetime)
    jti = uuid.uuid4().hex
    claims = {"sub": str(user_id), "type": kind, "iat": int(now.timestamp()), "exp": int(exp.timestamp()), "jti": jti}
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), jti, exp.replace(tzinfo=None)


def decode_token(token: str, kind: str) -> dict:
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM],
                            options={"require": ["sub", "type", "exp", "jti"]})
    except jwt.PyJWTError:
        raise Unauthorized(INVALID_TOKEN) from None
    if claims.get("type") != kind:
        raise Unauthorized(INVALID_TOKEN)
    return claims


def access_token(user: User) -> str:
    return issue_token(user.id, "access")[0]


async def token_pair(user: User) -> dict[str, str]:
    refresh, jti, exp = issue_token(user.id, "refresh")
    await RefreshToken.aio_create(jti=jti, user=user.id, expires_at=exp)
    return {"access_token": access_token(user), "refresh_token": refresh}


def _with_customer(query: pw.ModelSelect) -> pw.ModelSelect:
    return query.select_extend(Customer.status.alias("customer_status")).join(
        Customer, pw.JOIN.LEFT_OUTER, on=(Customer.user == User.id))


_USER_FIELDS = [f.name for f in User._meta.sorted_fields]
_USER_SQL = ("SELECT " + ", ".join(f'u."{f.column_name}"' for f in User._meta.sorted_fields)
             + ", c.status FROM users u LEFT JOIN customer c ON c.user_id = u.id WHERE u.id = %(id)s")


async def user_for_claims(claims: dict) -> User:
    """The active, unblocked user an access token names (one query)."""
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized(INVALID_TOKEN) from None
    if not 0 < user_id <= 2**31 - 1:
        raise Unauthorized(INVALID_TOKEN)
    # Every authenticated request runs this: plain SQL, no ORM query to build.
    rows = await fetch_prepared(_USER_SQL, {"id": user_id})
    row, user = (rows[0] if rows else None), None
    if row is not None:
        user = User(**dict(zip(_USER_FIELDS, row[:-1])))
        user.customer_status = row[-1]
    if user is None or not user.is_active or getattr(user, "customer_status", None) == "blocked":
        raise Unauthorized(INVALID_TOKEN)
    return user


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


async def _new_one_time_token(user: User, purpose: str) -> str:
    """Invalidate the user's unused tokens of ``purpose`` and make a new one."""
    lifetime = settings.VERIFY_TOKEN_SECONDS if purpose == "verify" else settings.RESET_TOKEN_SECONDS
    now = utcnow()
    await OneTimeToken.update(used_at=now).where(
        (OneTimeToken.user == user.id) & (OneTimeToken.purpose == purpose) & OneTimeToken.used_at.is_null()
    ).aio_execute()
    raw = secrets.token_urlsafe(32)
    await OneTimeToken.aio_create(user=user.id, purpose=purpose, token_hash=_hash(raw),
                                  expires_at=now + dt.timedelta(seconds=lifetime))
    return raw


async def _consume_one_time_token(uidb64: str, raw: str, purpose: str) -> User | None:
    """Mark a valid token used and return its user; None when invalid."""
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
    await OneTimeToken.update(used_at=utcnow()).where(OneTimeToken.id == rows[0].id).aio_execute()
    return await User.aio_get_or_none(User.id == user_id)


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
        raw = await _new_one_time_token(user, "verify")
        await enqueue("tasks.emails.send_verification_email", user.id, raw)
    return user, access_token(user)


async def login(email: str, password: str) -> dict[str, Any]:
    """Password login. Raises Unauthorized for bad credentials, Forbidden when blocked."""
    email = normalize_email(email)
    rows = await _with_customer(User.select().where(User.email == email)).objects().aio_execute()
    user = rows[0] if rows else None
    if not await check_password(password, user.password_hash if user else None):
        if user is None:
            raise Unauthorized("Invalid credentials", {"email": ["No account found with this email address."]})
        raise Unauthorized("Invalid credentials", {"password": ["Invalid password for this account."]})
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
        user = await User.aio_get_or_none((User.google_sub == sub) | (User.email == email))
        if user is None:
            user = await _create_account(email, None, full_name=info.get("name", ""), location=location,
                                         is_verified=verified, google_sub=sub)
        elif user.google_sub is None or (verified and not user.is_verified):
            await User.update(google_sub=sub, is_verified=user.is_verified or verified).where(
                User.id == user.id).aio_execute()
            user.is_verified = user.is_verified or verified
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
        raw = await _new_one_time_token(user, "verify")
        await enqueue("tasks.emails.send_verification_email", user.id, raw)


async def forgot_password(email: str) -> None:
    user = await User.aio_get_or_none((User.email == normalize_email(email)) & (User.is_active == True))  # noqa: E712
    if user is None:
        raise NotFound("No user found with this email address")
    async with transaction():
        raw = await _new_one_time_token(user, "reset")
        await enqueue("tasks.emails.send_password_reset_email", user.id, raw)


async def reset_password(uidb64: str, token: str, password: str) -> None:
    """Set a new password from a reset link; the link works once; sessions end."""
    problems = password_errors(password)
    if problems:
        raise ValidationFailed(errors={"password": problems})
    hashed = await hash_password(password)
    async with transaction():
        user = await _consume_one_time_token(uidb64, token, "reset")
        if user is None:
            raise AppError("Invalid reset link")
        await User.update(password_hash=hashed).where(User.id == user.id).aio_execute()
        await revoke_all_refresh_tokens(user.id)


async def revoke_all_refresh_tokens(user_id: int) -> None:
    await RefreshToken.update(revoked_at=utcnow()).where(
        (RefreshToken.user == user_id) & RefreshToken.revoked_at.is_null()).aio_execute()


async def refresh(refresh_token: str) -> dict[str, Any]:
    """Rotate a refresh token. Reusing a rotated token is refused and, as it
    means the token leaked, ends every session of that user."""
    claims = decode_token(refresh_token, "refresh")
    async with transaction():
        rows = await RefreshToken.select().where(RefreshToken.jti == claims["jti"]).for_update().aio_execute()
        record = rows[0] if rows else None
        if record is None:
            raise Unauthorized(INVALID_TOKEN)
        if record.revoked_at is not None:
            await revoke_all_refresh_tokens(record.user_id)
            reuse = True
        else:
            reuse = False
            await RefreshToken.update(revoked_at=utcnow()).where(RefreshToken.jti == record.jti).aio_execute()
    if reuse:
        raise Unauthorized(INVALID_TOKEN)
    user = await user_for_claims({"sub": record.user_id})
    async with transaction():
        tokens = await token_pair(user)
    return {**tokens, "user": user_payload(user)}


async def logout(refresh_token: str) -> None:
    claims = decode_token(refresh_token, "refresh")
    await RefreshToken.update(revoked_at=utcnow()).where(
        (RefreshToken.jti == claims["jti"]) & RefreshToken.revoked_at.is_null()).aio_execute()


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
