"""Profiles: the user's name, phone and photo."""
from __future__ import annotations

from typing import Any

import peewee as pw

from models.accounts import tokens
from models.accounts.passwords import check_password
from models.accounts.tables import Customer, Profile, User, normalize_email
from models.core.db import iso, transaction, utcnow
from models.core.errors import NotFound, ValidationFailed
from models.core.jobs import enqueue
from models.core.media import cloudinary_enabled, delete_upload, media_url, store_image
from models.core.phones import available_country_codes, format_phone, parse_phone

PHOTO_MAX_BYTES = 2 * 1024 * 1024


async def load_profile_for(user: User, profile_id: int | None = None) -> Profile:
    """The user's own profile (created on first use); another user's id is 404."""
    query = Profile.select().where(Profile.user == user.id)
    if profile_id is not None:
        query = query.where(Profile.id == profile_id)
    rows = await query.aio_execute()
    if rows:
        return rows[0]
    if profile_id is not None:
        raise NotFound("Profile not found")
    async with transaction():
        try:
            return await Profile.aio_create(user=user.id)
        except pw.IntegrityError:
            return await Profile.aio_get(Profile.user == user.id)


def profile_payload(user: User, profile: Profile, with_codes: bool = False) -> dict[str, Any]:
    data = {
        "id": profile.id,
        "email": user.email,
        "full_name": user.full_name,
        "phone_number": profile.phone_number or None,
        "country_code": profile.country_code or None,
        "formatted_phone_number": format_phone(profile.phone_number),
        "photo": profile.photo,
        "photo_url": media_url(profile.photo_url),
        "is_verified": user.is_verified,
        "updated_at": iso(profile.updated_at),
    }
    if with_codes:
        data["available_country_codes"] = available_country_codes()
    return data


async def update_profile(user: User, profile: Profile, changes: dict[str, Any]) -> Profile:
    """Apply ``changes`` (full_name, email, phone_number, country_code).

    The phone number is validated together with its country code. A new email
    must be free and needs the current password (``current_password``); the
    account is unverified until the link mailed to the new address is used,
    every outstanding verification and reset link dies, and the old address
    is told. Raises ValidationFailed.
    """
    user_changes: dict[str, Any] = {}
    profile_changes: dict[str, Any] = {"updated_at": utcnow()}
    old_email = user.email
    if "full_name" in changes and changes["full_name"] is not None:
        user_changes["full_name"] = changes["full_name"].strip()
    if "email" in changes and changes["email"] and normalize_email(changes["email"]) != user.email:
        email = normalize_email(changes["email"])
        await _check_current_password(user, changes.get("current_password"))
        if await User.select().where((User.email == email) & (User.id != user.id)).aio_exists():
            raise ValidationFailed.field("email", "User with this email address already exists.")
        user_changes.update(email=email, is_verified=False)
    if "phone_number" in changes or "country_code" in changes:
        number = changes.get("phone_number", profile.phone_number)
        code = changes.get("country_code") or profile.country_code
        if number:
            e164, code = parse_phone(number, code)
            profile_changes.update(phone_number=e164, country_code=code)
        else:
            profile_changes.update(phone_number="", country_code=code or "")
    async with transaction():
        if user_changes:
            customer_changes = {k: v for k, v in (("name", user_changes.get("full_name")),
                                                   ("email", user_changes.get("email"))) if v is not None}
            try:
                # The customer's email is unique too (an admin-created customer may hold it).
                async with transaction():
                    await User.update(**user_changes).where(User.id == user.id).aio_execute()
                    if customer_changes:
                        await Customer.update(**customer_changes, updated_at=utcnow()).where(
                            Customer.user == user.id).aio_execute()
            except pw.IntegrityError:
                raise ValidationFailed.field("email", "User with this email address already exists.") from None
            if "email" in user_changes:
                await _email_changed(user, old_email, user_changes["email"])
        # Rows are locked in one order (user, customer, profile) so that two
        # concurrent updates of one account cannot deadlock.
        if "phone_number" in profile_changes:
            await Customer.update(phone=profile_changes["phone_number"],
                                  country_code=profile_changes["country_code"]).where(
                Customer.user == user.id).aio_execute()
        await Profile.update(**profile_changes).where(Profile.id == profile.id).aio_execute()
    for key, value in user_changes.items():
        setattr(user, key, value)
    return await Profile.aio_get(Profile.id == profile.id)


PASSWORD_NEEDED = "Enter your current password to change your email address."
PASSWORD_WRONG = "Your current password is incorrect."
NO_PASSWORD = ("This account has no password yet. Set one with \"Forgot password\" "
               "before changing the email address.")


async def _check_current_password(user: User, password: str | None) -> None:
    if user.password_hash is None:
        raise ValidationFailed.field("current_password", NO_PASSWORD)
    if not password:
        raise ValidationFailed.field("current_password", PASSWORD_NEEDED)
    if not await check_password(password, user.password_hash):
        raise ValidationFailed.field("current_password", PASSWORD_WRONG)


async def _email_changed(user: User, old_email: str, new_email: str) -> None:
    """In the change's transaction: old links die, the new address gets a
    verification link, the old one a notice."""
    await tokens.kill_one_time_tokens(user.id)
    user.email = new_email
    link = await tokens.issue_one_time_token(user, "verify")
    await enqueue("tasks.emails.send_verification_email", link.id)
    await enqueue("tasks.emails.send_email_changed_notice", user.id, old_email)


async def upload_photo(user: User, data: bytes) -> Profile:
    """Replace the profile photo with a JPG/PNG of at most 2 MB (checked by content)."""
    profile = await load_profile_for(user)
    stored = await store_image(data, "profiles", PHOTO_MAX_BYTES, field="photo")
    async with transaction():
        await Profile.update(photo=stored.key, photo_url=stored.key, updated_at=utcnow()).where(
            Profile.id == profile.id).aio_execute()
        if cloudinary_enabled():
            await enqueue("tasks.images.upload_image", "profile", profile.id, stored.key)
    await delete_upload(profile.photo)
    return await Profile.aio_get(Profile.id == profile.id)


async def remove_photo(user: User) -> Profile:
    profile = await load_profile_for(user)
    await Profile.update(photo=None, photo_url=None, updated_at=utcnow()).where(
        Profile.id == profile.id).aio_execute()
    await delete_upload(profile.photo)
    return await Profile.aio_get(Profile.id == profile.id)
