"""Addresses: a user's book of shipping addresses, exactly one default while any exist."""
from __future__ import annotations

from typing import Any

from models.accounts.tables import Address, User
from models.core.db import iso, transaction, utcnow
from models.core.errors import NotFound
from models.core.phones import parse_phone

FIELDS = ("full_name", "email", "phone_number", "street_address", "city", "state", "country", "zip_code")


def address_payload(a: Address) -> dict[str, Any]:
    return {
        "id": a.id,
        **{f: getattr(a, f) for f in FIELDS},
        "is_default": a.is_default,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }


async def list_addresses(user: User) -> list[Address]:
    return list(await Address.select().where(Address.user == user.id)
                .order_by(Address.is_default.desc(), Address.created_at.desc(), Address.id.desc()).aio_execute())


async def load_address_for(user: User, address_id: int, lock: bool = False) -> Address:
    query = Address.select().where((Address.id == address_id) & (Address.user == user.id))
    rows = await (query.for_update() if lock else query).aio_execute()
    if not rows:
        raise NotFound("Address not found")
    return rows[0]


async def _lock_user_addresses(user_id: int) -> list[Address]:
    """Serialise default changes of one user (row locks on their addresses).

    The user's row is locked first: with no address yet there is nothing else
    to lock, and two "first" addresses would both become the default. (NO KEY:
    foreign-key checks of other tables on this user need not wait.)"""
    await User.select(User.id).where(User.id == user_id).for_update("FOR NO KEY UPDATE").aio_execute()
    return list(await Address.select(Address.id, Address.is_default).where(Address.user == user_id)
                .order_by(Address.id).for_update().aio_execute())


async def create_address(user: User, data: dict[str, Any]) -> Address:
    """Add an address; the first one, or one marked default, becomes the default."""
    if data.get("phone_number"):
        data["phone_number"] = parse_phone(data["phone_number"])[0]
    async with transaction():
        existing = await _lock_user_addresses(user.id)
        make_default = bool(data.pop("is_default", False)) or not existing
        if make_default:
            await Address.update(is_default=False).where(
                (Address.user == user.id) & Address.is_default).aio_execute()
        return await Address.aio_create(user=user.id, is_default=make_default, **data)


async def update_address(user: User, address_id: int, changes: dict[str, Any]) -> Address:
    if changes.get("phone_number"):
        changes["phone_number"] = parse_phone(changes["phone_number"])[0]
    async with transaction():
        await _lock_user_addresses(user.id)
        address = await load_address_for(user, address_id)
        is_default = changes.pop("is_default", None)
        if is_default is True and not address.is_default:
            await Address.update(is_default=False).where(
                (Address.user == user.id) & Address.is_default).aio_execute()
            changes["is_default"] = True
        # Unsetting the default is ignored: some address must stay the default.
        if changes:
            await Address.update(**changes, updated_at=utcnow()).where(Address.id == address.id).aio_execute()
    return await Address.aio_get(Address.id == address_id)


async def set_default(user: User, address_id: int) -> Address:
    return await update_address(user, address_id, {"is_default": True})


async def delete_address(user: User, address_id: int) -> None:
    """Delete; when it was the default, the newest remaining address takes over."""
    async with transaction():
        await _lock_user_addresses(user.id)
        address = await load_address_for(user, address_id)
        await Address.delete().where(Address.id == address.id).aio_execute()
        if address.is_default:
            newest = await (Address.select(Address.id).where(Address.user == user.id)
                            .order_by(Address.created_at.desc(), Address.id.desc()).limit(1).aio_execute())
            if newest:
                await Address.update(is_default=True).where(Address.id == newest[0].id).aio_execute()


async def default_address(user_id: int) -> Address | None:
    return await Address.aio_get_or_none((Address.user == user_id) & (Address.is_default == True))  # noqa: E712


