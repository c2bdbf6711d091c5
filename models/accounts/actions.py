"""Account use cases: registration, login (password and Google), email
verification and the demo/CLI staff account. Emails go out through Celery
after the transaction commits.

Triggers (migrations/README.md): a new account's customer row moves the
dashboard's customer rollup and cache version (0009 customer_daily_change,
0011 dashboard_version_customer) at commit.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

import peewee as pw

import settings
from models.accounts.passwords import check_password, hash_password, password_errors
from models.accounts.sessions import end_all_sessions, start_session
from models.accounts.tables import Customer, Profile, User, normalize_email
from models.accounts.tokens import access_token, consume_one_time_token, issue_one_time_token, kill_one_time_tokens
from models.core.db import transaction
from models.core.errors import AppError, NotFound, Unauthorized, ValidationFailed
from models.core.jobs import enqueue

INVALID_CREDENTIALS = "Invalid credentials"
# One answer for every credential failure (unknown email, Google-only account, wrong
# password), in the spec's shape: it must not say which part was wrong.
BAD_PASSWORD_ERRORS = {"password": ["Invalid email or password."]}


def _with_customer(query: pw.ModelSelect) -> pw.ModelSelect:
    return query.select_extend(Customer.status.alias("customer_status")).join(
        Customer, pw.JOIN.LEFT_OUTER, on=(Customer.user == User.id))


# --- use cases ---------------------------------------------------------------

async def create_account(email: str, password_hash: str | None, *, full_name: str = "", location: str = "",
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
        user = await create_account(email, hashed, full_name=full_name, location=location)
        link = await issue_one_time_token(user, "verify")
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
    return await start_session(user)


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
            user = await create_account(email, None, full_name=info.get("name", ""), location=location,
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
                await end_all_sessions(user.id, "google_takeover")
                await kill_one_time_tokens(user.id)
            await User.update(**changes).where(User.id == user.id).aio_execute()
        elif verified and not user.is_verified and user.email == email:
            await User.update(is_verified=True).where(User.id == user.id).aio_execute()
    rows = await _with_customer(User.select().where(User.id == user.id)).objects().aio_execute()
    return await start_session(rows[0])


async def verify_email(token: str, uidb64: str) -> User:
    async with transaction():
        user = await consume_one_time_token(uidb64, token, "verify")
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
        link = await issue_one_time_token(user, "verify")
        await enqueue("tasks.emails.send_verification_email", link.id)


async def create_admin(email: str, password: str) -> User:
    """Create a staff user, or promote an existing one and set its password."""
    email = normalize_email(email)
    hashed = await hash_password(password)
    async with transaction():
        user = await User.aio_get_or_none(User.email == email)
        if user is None:
            return await create_account(email, hashed, is_staff=True, is_verified=True)
        await User.update(is_staff=True, password_hash=hashed, is_active=True).where(
            User.id == user.id).aio_execute()
    return await User.aio_get(User.id == user.id)
