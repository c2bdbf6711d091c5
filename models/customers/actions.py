"""Customers, write side: staff create, edit, block and delete customers, one
transaction each; nothing changes on a 4xx.

Blocking takes effect at once: every request re-reads the customer's status
with the user (models.accounts.sessions.user_for_claims), login is refused, and here every
session of the user ends (models.accounts.sessions.end_all_sessions: token version bumped,
sessions and refresh tokens revoked), so unblocking does not revive old tokens.
Deleting a customer deletes its user account (CONTRACT).

Triggers (migrations/README.md): blocking ends the user's sessions in SQL too
(0005 customer_blocked_ends_sessions); customer writes move the dashboard's
customer rollup and cache version (0009 customer_daily_change, 0011
dashboard_version_customer).
"""
from __future__ import annotations

from typing import Any

import peewee as pw

from models.accounts import actions, addresses, sessions
from models.accounts.passwords import hash_password, password_errors
from models.accounts.tables import Customer, User
from models.core.db import db, fetch_all, transaction, utcnow
from models.core.errors import AppError, NotFound, ValidationFailed
from models.core.phones import parse_phone
from models.customers.queries import NOT_FOUND, where_clause

EMAIL_TAKEN = "customer with this email already exists."
SELF_BLOCK = "You cannot block or delete your own account."
ADDRESS_FIELDS = ("full_name", "email", "phone_number", "street_address", "city", "state", "country", "zip_code")


def _phone(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, str] | None:
    """The phone columns from ``country_code`` + ``local_phone_number`` (both or
    neither) or a full ``phone``; None when the request sets no phone."""
    code, local, full = data.get("country_code"), data.get("local_phone_number"), data.get("phone")
    if code or local:
        if code and not local:
            errors.setdefault("local_phone_number", []).append(
                "Phone number is required when country code is provided.")
            return None
        if local and not code:
            errors.setdefault("country_code", []).append("Country code is required when phone number is provided.")
            return None
        try:
            e164, cc = parse_phone(local, code, field="local_phone_number")
        except ValidationFailed as exc:
            for k, v in exc.errors.items():
                errors.setdefault(k, []).extend(v)
            return None
        return {"phone": e164, "country_code": cc, "local_phone_number": e164[len(cc):]}
    if full is not None:
        if not full.strip():
            return {"phone": "", "country_code": "", "local_phone_number": ""}
        try:
            e164, cc = parse_phone(full, None, field="phone")
        except ValidationFailed as exc:
            for k, v in exc.errors.items():
                errors.setdefault(k, []).extend(v)
            return None
        return {"phone": e164, "country_code": cc, "local_phone_number": e164[len(cc):]}
    return None


async def create_customer(data: dict[str, Any]) -> int:
    """Create a customer (``name``, ``email``, optional phone, optional user
    account with ``password``, optional ``address``); returns its id.

    Raises ValidationFailed (taken email, half a phone, missing or weak password)."""
    errors: dict[str, list[str]] = {}
    email = data["email"]
    phone = _phone(data, errors) or {}
    want_user = bool(data.get("create_user_account"))
    password = data.get("password")
    if want_user:
        if not password:
            errors["password"] = ["This field is required when creating a user account."]
        else:
            problems = password_errors(password)
            if problems:
                errors["password"] = problems
    if await Customer.select().where(Customer.email == email).aio_exists():
        errors.setdefault("email", []).append(EMAIL_TAKEN)
    elif want_user and await User.select().where(User.email == email).aio_exists():
        errors.setdefault("email", []).append("User with this email address already exists.")
    address = data.get("address")
    if address and address.get("phone_number"):
        try:
            address["phone_number"] = parse_phone(address["phone_number"], phone.get("country_code"),
                                                  field="address.phone_number")[0]
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    hashed = await hash_password(password) if want_user else None
    try:
        async with transaction():
            if want_user:
                user = await actions.create_account(email, hashed, full_name=data["name"], is_verified=True)
                customer = await Customer.aio_get(Customer.user == user.id)
                await Customer.update(name=data["name"], updated_at=utcnow(), **phone).where(
                    Customer.id == customer.id).aio_execute()
                if phone:
                    from models.accounts.tables import Profile

                    await Profile.update(phone_number=phone["phone"], country_code=phone["country_code"]).where(
                        Profile.user == user.id).aio_execute()
                if address:
                    await addresses.create_address(user, {**address, "is_default": True})
            else:
                now = utcnow()
                customer = await Customer.aio_create(name=data["name"], email=email, created_at=now,
                                                     updated_at=now, **phone)
                if address:
                    await db.aio_execute_sql(
                        f"INSERT INTO customer_address (customer_id, {', '.join(ADDRESS_FIELDS)}) "
                        f"VALUES (%s{', %s' * len(ADDRESS_FIELDS)})",
                        [customer.id, *[address.get(f) or "" for f in ADDRESS_FIELDS]])
    except pw.IntegrityError:  # a concurrent create with the same email
        raise ValidationFailed.field("email", EMAIL_TAKEN) from None
    return customer.id


async def _load(customer_id: int, lock: bool = False) -> Customer:
    query = Customer.select().where(Customer.id == customer_id)
    rows = list(await (query.for_update() if lock else query).aio_execute())
    if not rows:
        raise NotFound(NOT_FOUND)
    return rows[0]


async def _end_sessions(user_ids: list[int]) -> None:
    """Cut blocked users off: every session ends (access tokens by version,
    refresh tokens revoked), on top of the status read with every token."""
    for user_id in sorted({u for u in user_ids if u}):
        await sessions.end_all_sessions(user_id, "blocked")


async def update_customer(staff: User, customer_id: int, data: dict[str, Any]) -> None:
    """Change name, email, phone (full or code + local) or status.

    Raises NotFound, ValidationFailed (taken email, bad phone, blocking oneself)."""
    errors: dict[str, list[str]] = {}
    phone = _phone(data, errors)
    async with transaction():
        customer = await _load(customer_id, lock=True)
        changes: dict[str, Any] = dict(phone or {})
        if data.get("name") is not None:
            changes["name"] = data["name"]
        if data.get("email") is not None and data["email"] != customer.email:
            if await Customer.select().where((Customer.email == data["email"]) &
                                             (Customer.id != customer.id)).aio_exists():
                errors.setdefault("email", []).append(EMAIL_TAKEN)
            changes["email"] = data["email"]
        status = data.get("status")
        if status is not None and status != customer.status:
            if status == "blocked" and customer.user_id == staff.id:
                errors.setdefault("status", []).append(SELF_BLOCK)
            changes["status"] = status
        if errors:
            raise ValidationFailed(errors=errors)
        if changes:
            await Customer.update(**changes, updated_at=utcnow()).where(Customer.id == customer.id).aio_execute()
        if changes.get("status") == "blocked":
            await _end_sessions([customer.user_id])


async def delete_customer(staff: User, customer_id: int) -> None:
    """Delete a customer and its user account. Raises NotFound, or AppError for oneself."""
    async with transaction():
        customer = await _load(customer_id, lock=True)
        if customer.user_id == staff.id:
            raise AppError(SELF_BLOCK, error=SELF_BLOCK)
        if customer.user_id:
            await User.delete().where(User.id == customer.user_id).aio_execute()  # cascades to the customer
        await Customer.delete().where(Customer.id == customer.id).aio_execute()


async def bulk_action(staff: User, action: str, customer_ids: list[int], status: str | None,
                      select_all: bool, exclude_ids: list[int], filters: dict[str, Any]) -> int:
    """Block/unblock (``update_status``) or ``delete`` the selected customers, or with
    ``select_all`` every customer matching ``filters`` except ``exclude_ids`` (and the
    acting staff member). Returns the number affected.

    Raises AppError: nothing selected, invalid status, or the staff member's own
    record listed for blocking or deletion."""
    if action == "update_status" and status not in ("active", "blocked"):
        raise AppError("Invalid status", error="Invalid status")
    if not select_all and not customer_ids:
        raise AppError("No customers selected", error="No customers selected")
    if select_all:
        where, params = where_clause(filters)
        where += " AND NOT (c.id = ANY(%s)) AND c.user_id IS DISTINCT FROM %s"
        params += [exclude_ids or [], staff.id]
    else:
        where, params = "c.id = ANY(%s)", [customer_ids]
        if action == "delete" or status == "blocked":
            own = await fetch_all("SELECT 1 FROM customer c WHERE c.id = ANY(%s) AND c.user_id = %s",
                                  [customer_ids, staff.id])
            if own:
                raise AppError(SELF_BLOCK, error=SELF_BLOCK)
    async with transaction():
        if action == "update_status":
            rows = await fetch_all(f"UPDATE customer c SET status = %s, updated_at = timezone('utc', now()) "
                                   f"WHERE {where} RETURNING c.id, c.user_id", [status, *params])
            if status == "blocked":
                await _end_sessions([r[1] for r in rows])
            return len(rows)
        rows = await fetch_all(f"DELETE FROM customer c WHERE {where} RETURNING c.id, c.user_id", params)
        user_ids = [r[1] for r in rows if r[1]]
        if user_ids:
            await db.aio_execute_sql("DELETE FROM users WHERE id = ANY(%s)", [user_ids])
        return len(rows)
