"""Tokens: signed JWTs (access and refresh) and the single-use links sent by
email (uidb64 + a token derived from the row's nonce).

Links sent by email are single-use, expiring, bound to the address they were
sent to, and stored hashed; the email task derives the link from a nonce in
the row (HMAC with SECRET_KEY), so the broker never carries a usable token.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid

import jwt
import orjson

import settings
from models.accounts.tables import OneTimeToken, User
from models.core.db import utcnow
from models.core.errors import Unauthorized

ALGORITHM = "HS256"
INVALID_TOKEN = "Token is invalid or expired"


# --- JWT ---------------------------------------------------------------------

def issue_token(user_id: int, kind: str, *, version: int = 0, sid: str | None = None,
                jti: str | None = None, issued_at: int | None = None) -> tuple[str, str, dt.datetime]:
    """A signed JWT of ``kind`` (access|refresh): returns (token, jti, expiry).

    ``version`` is the user's token_version and ``sid`` the session: tokens of
    an older version or of a revoked session are refused. Given the ``jti`` and
    ``issued_at`` (epoch seconds) of a token issued before, the very same token
    is signed again (HS256 is deterministic).
    """
    lifetime = settings.ACCESS_TOKEN_SECONDS if kind == "access" else settings.REFRESH_TOKEN_SECONDS
    iat = issued_at if issued_at is not None else int(time.time())
    exp = iat + lifetime
    jti = jti or uuid.uuid4().hex
    claims = {"sub": str(user_id), "type": kind, "iat": iat, "exp": exp, "jti": jti, "ver": version}
    if sid:
        claims["sid"] = sid
    expires = dt.datetime.fromtimestamp(exp, dt.timezone.utc).replace(tzinfo=None)
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM), jti, expires


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


async def kill_one_time_tokens(user_id: int, purposes: tuple[str, ...] = ("verify", "reset")) -> None:
    await OneTimeToken.update(used_at=utcnow()).where(
        (OneTimeToken.user == user_id) & OneTimeToken.purpose.in_(purposes) & OneTimeToken.used_at.is_null()
    ).aio_execute()


async def issue_one_time_token(user: User, purpose: str) -> OneTimeToken:
    """Invalidate the user's unused links of ``purpose`` and make a new one,
    bound to the user's current address."""
    lifetime = settings.VERIFY_TOKEN_SECONDS if purpose == "verify" else settings.RESET_TOKEN_SECONDS
    await kill_one_time_tokens(user.id, (purpose,))
    nonce = secrets.token_urlsafe(32)
    return await OneTimeToken.aio_create(user=user.id, purpose=purpose, email=user.email, nonce=nonce,
                                         token_hash=_hash(link_token(nonce)),
                                         expires_at=utcnow() + dt.timedelta(seconds=lifetime))


async def new_one_time_token(user: User, purpose: str) -> str:
    """A new link token of ``purpose`` for ``user`` (the old ones die)."""
    return link_token((await issue_one_time_token(user, purpose)).nonce)


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


async def consume_one_time_token(uidb64: str, raw: str, purpose: str) -> User | None:
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


# --- signed links (no row: the signature and the expiry are the check) ----------------

def signed_link(purpose: str, claims: dict, seconds: int) -> str:
    """A signed, expiring token for a link sent by email (e.g. a guest's order)."""
    now = int(time.time())
    return jwt.encode({**claims, "purpose": purpose, "iat": now, "exp": now + seconds}, settings.SECRET_KEY,
                      algorithm=ALGORITHM)


def read_signed_link(purpose: str, token: str) -> dict | None:
    """The claims of a valid, unexpired ``signed_link`` of ``purpose``; None otherwise."""
    try:
        claims = jwt.decode(token, settings.SECRET_KEY, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("purpose") == purpose else None
