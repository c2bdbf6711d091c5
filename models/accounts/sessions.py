"""Sessions: a login opens an ``AuthSession``; its refresh tokens rotate
within it and its access tokens carry its id (``sid``) and the user's
``token_version`` (``ver``). Logout revokes the session; a password reset,
refresh-token reuse, blocking or deletion bump the version and so end every
session. The one query that loads the user on each request reads both, so
checking them costs nothing extra; a handler's hot read may ride along in that
same statement (``user_with_read``, ``models.core.db.RideAlong``).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import peewee as pw

import settings
from models.accounts.tables import AuthSession, RefreshToken, User
from models.accounts.tokens import INVALID_TOKEN, decode_token, issue_token
from models.core.db import RideAlong, fetch_prepared, transaction, utcnow
from models.core.errors import Forbidden, Unauthorized

log = logging.getLogger("avantlush.auth")

async def _open_session(user: User) -> str:
    sid = uuid.uuid4().hex
    await AuthSession.aio_create(id=sid, user=user.id)
    return sid


async def token_pair(user: User, sid: str | None = None) -> tuple[dict[str, str], str]:
    """A refresh + access token of session ``sid`` (a new session when None),
    and the refresh token's jti. The row keeps what signs the pair again
    identically (``_signed_pair``), never the tokens."""
    sid = sid or await _open_session(user)
    version, issued_at = user.token_version or 0, int(time.time())
    refresh, jti, exp = issue_token(user.id, "refresh", version=version, sid=sid, issued_at=issued_at)
    access, access_jti, _ = issue_token(user.id, "access", version=version, sid=sid, issued_at=issued_at)
    await RefreshToken.aio_create(jti=jti, user=user.id, session=sid, expires_at=exp, issued_at=issued_at,
                                  access_jti=access_jti)
    return {"access_token": access, "refresh_token": refresh}, jti


def _signed_pair(record: RefreshToken, version: int) -> dict[str, str] | None:
    """The pair issued with refresh token ``record``, signed again: the same two tokens."""
    if record.issued_at is None or record.access_jti is None:
        return None  # issued before rows kept this
    common = {"version": version, "sid": record.session_id, "issued_at": record.issued_at}
    return {"access_token": issue_token(record.user_id, "access", jti=record.access_jti, **common)[0],
            "refresh_token": issue_token(record.user_id, "refresh", jti=record.jti, **common)[0]}


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


async def end_all_sessions(user_id: int, reason: str) -> None:
    """Every session of the user ends at once: its access tokens (by version)
    and its refresh tokens, each recording ``reason`` (and logged with it).
    Runs inside the caller's transaction."""
    now = utcnow()
    await User.update(token_version=User.token_version + 1).where(User.id == user_id).aio_execute()
    ended = await AuthSession.update(revoked_at=now, ended_reason=reason).where(
        (AuthSession.user == user_id) & AuthSession.revoked_at.is_null()).returning(AuthSession.id).aio_execute()
    await RefreshToken.update(revoked_at=now, revoked_reason=reason).where(
        (RefreshToken.user == user_id) & RefreshToken.revoked_at.is_null()).aio_execute()
    _log_ended(user_id, [row.id for row in ended], reason)


def _log_ended(user_id: int, session_ids: list[str], reason: str) -> None:
    for sid in session_ids:
        log.info("session %s of user %s ended: %s", sid, user_id, reason)
    if not session_ids:
        log.info("every session of user %s ended: %s", user_id, reason)  # (a trigger may have ended them)


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


async def start_session(user: User) -> dict[str, Any]:
    if not user.is_active or getattr(user, "customer_status", None) == "blocked":
        raise Forbidden("This account has been blocked.")
    async with transaction():
        await User.update(last_login=utcnow()).where(User.id == user.id).aio_execute()
        tokens, _ = await token_pair(user)
    return {**tokens, "user": user_payload(user)}


async def refresh(refresh_token: str) -> dict[str, Any]:
    """Rotate a refresh token within its session (RFC 9700 4.14.2).

    The token the session rotated last, presented again within
    ``REFRESH_REUSE_GRACE_SECONDS`` of its rotation, gets the very pair it was
    rotated into (two tabs of one app refreshing at once both stay signed in).
    Any other reuse of a rotated token means it leaked: every session of the
    user ends. The lock on the token's row orders concurrent refreshes, and the
    rotation (old token revoked, successor named and stored) is one transaction,
    so a second request never sees a half-done rotation.
    """
    claims = decode_token(refresh_token, "refresh")
    # The user, the token's version and its session must be current (a token of an
    # ended session is just dead: replaying it ends nothing).
    user = await user_for_claims({"sub": claims["sub"], "ver": claims.get("ver", 0),
                                  **({"sid": claims["sid"]} if claims.get("sid") else {})})
    async with transaction():
        rows = await RefreshToken.select().where(RefreshToken.jti == claims["jti"]).for_update().aio_execute()
        record = rows[0] if rows else None
        if record is None or record.user_id != user.id:
            raise Unauthorized(INVALID_TOKEN)
        if record.revoked_at is None:
            tokens, successor = await token_pair(user, record.session_id)
            await RefreshToken.update(revoked_at=utcnow(), revoked_reason="rotated", rotated_to=successor).where(
                RefreshToken.jti == record.jti).aio_execute()
            return {**tokens, "user": user_payload(user)}
        tokens = await _grace_pair(record, _claim_version(claims))
        if tokens is not None:
            return {**tokens, "user": user_payload(user)}
        # Reuse of a rotated token of a live session: it leaked.
        session = await AuthSession.aio_get_or_none(AuthSession.id == record.session_id) \
            if record.session_id else None
        if record.session_id is None or (session is not None and session.revoked_at is None):
            log.warning("refresh token %s of user %s reused %s after its rotation", record.jti, record.user_id,
                        utcnow() - record.revoked_at)
            await end_all_sessions(record.user_id, "refresh_token_reuse")
    raise Unauthorized(INVALID_TOKEN)  # after the commit: the sessions stay ended


async def _grace_pair(record: RefreshToken, version: int) -> dict[str, str] | None:
    """The pair ``record`` was rotated into, when it was rotated at most
    ``REFRESH_REUSE_GRACE_SECONDS`` ago and that pair is still the session's live one."""
    if record.revoked_reason != "rotated" or record.rotated_to is None:
        return None
    if utcnow() - record.revoked_at > dt.timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS):
        return None
    successor = await RefreshToken.aio_get_or_none(RefreshToken.jti == record.rotated_to)
    if successor is None or successor.revoked_at is not None:
        return None
    return _signed_pair(successor, version)


async def logout(refresh_token: str) -> None:
    """End the session of ``refresh_token``: its refresh and access tokens."""
    claims = decode_token(refresh_token, "refresh")
    now = utcnow()
    async with transaction():
        rows = await RefreshToken.select().where(RefreshToken.jti == claims["jti"]).aio_execute()
        if not rows:
            return
        await RefreshToken.update(revoked_at=now, revoked_reason="logout").where(
            (RefreshToken.jti == claims["jti"]) & RefreshToken.revoked_at.is_null()).aio_execute()
        if rows[0].session_id:
            ended = await AuthSession.update(revoked_at=now, ended_reason="logout").where(
                (AuthSession.id == rows[0].session_id) & AuthSession.revoked_at.is_null()
            ).returning(AuthSession.id).aio_execute()
            await RefreshToken.update(revoked_at=now, revoked_reason="logout").where(
                (RefreshToken.session == rows[0].session_id) & RefreshToken.revoked_at.is_null()).aio_execute()
            if ended:
                _log_ended(rows[0].user_id, [row.id for row in ended], "logout")
