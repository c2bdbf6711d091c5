"""Accounts: users, their profile and customer record, tokens, addresses, the waitlist."""
from __future__ import annotations

import uuid

import peewee as pw

from models.core.db import BaseModel, utcnow

CUSTOMER_STATUSES = ("active", "blocked")


def normalize_email(email: str) -> str:
    """Addresses are stored (and looked up) trimmed and lower-cased."""
    return email.strip().lower()


class User(BaseModel):
    uuid = pw.UUIDField(default=uuid.uuid4, unique=True)
    email = pw.CharField(max_length=254, unique=True)  # stored lower-cased
    password_hash = pw.CharField(max_length=100, null=True)  # null: Google-only account
    full_name = pw.CharField(max_length=255, default="")
    location = pw.CharField(max_length=100, default="")
    is_staff = pw.BooleanField(default=False)
    is_active = pw.BooleanField(default=True)
    is_verified = pw.BooleanField(default=False)
    google_sub = pw.CharField(max_length=64, null=True, unique=True)
    date_joined = pw.DateTimeField(default=utcnow)
    last_login = pw.DateTimeField(null=True)
    # In every access token ("ver"): bumping it ends every session at once.
    token_version = pw.IntegerField(default=0)
    # A guest shopper (migrations/0021): no password, cannot log in, addressed
    # by a cart token of which only the SHA-256 is kept.
    is_guest = pw.BooleanField(default=False)
    guest_token_hash = pw.CharField(max_length=64, null=True)

    class Meta:
        table_name = "users"


class Profile(BaseModel):
    user = pw.ForeignKeyField(User, backref="profile", unique=True, on_delete="CASCADE")
    phone_number = pw.CharField(max_length=20, default="")  # E.164
    country_code = pw.CharField(max_length=5, default="")
    photo = pw.CharField(max_length=500, null=True)  # storage key (local path or Cloudinary id)
    photo_url = pw.CharField(max_length=1000, null=True)
    updated_at = pw.DateTimeField(default=utcnow)


class Customer(BaseModel):
    """The shop's view of a person; every registered user has exactly one."""

    user = pw.ForeignKeyField(User, backref="customer", unique=True, null=True, on_delete="CASCADE")
    name = pw.CharField(max_length=255, default="")
    email = pw.CharField(max_length=254, unique=True)
    phone = pw.CharField(max_length=20, default="")
    country_code = pw.CharField(max_length=5, default="")
    local_phone_number = pw.CharField(max_length=20, default="")
    status = pw.CharField(max_length=10, default="active", index=True,
                          constraints=[pw.Check("status IN ('active', 'blocked')")])
    created_at = pw.DateTimeField(default=utcnow, index=True)
    updated_at = pw.DateTimeField(default=utcnow)


class AuthSession(BaseModel):
    """One login: its refresh tokens form a family, its access tokens carry the id ("sid")."""

    id = pw.CharField(max_length=32, primary_key=True)
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE", index=True)
    created_at = pw.DateTimeField(default=utcnow)
    revoked_at = pw.DateTimeField(null=True)
    ended_reason = pw.CharField(max_length=32, null=True)  # logout, refresh_token_reuse, password_reset…

    class Meta:
        table_name = "auth_session"


class RefreshToken(BaseModel):
    jti = pw.CharField(max_length=64, primary_key=True)
    user = pw.ForeignKeyField(User, backref="refresh_tokens", on_delete="CASCADE", index=True)
    session = pw.ForeignKeyField(AuthSession, backref="refresh_tokens", null=True, on_delete="CASCADE", index=True)
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    revoked_at = pw.DateTimeField(null=True)
    revoked_reason = pw.CharField(max_length=32, null=True)  # rotated, logout, or why every session ended
    # What signs this token's pair again identically (no token is stored): the pair's
    # iat and the access token's jti; ``rotated_to`` is the successor's jti.
    issued_at = pw.BigIntegerField(null=True)
    access_jti = pw.CharField(max_length=64, null=True)
    rotated_to = pw.CharField(max_length=64, null=True)


class OneTimeToken(BaseModel):
    """Email verification and password reset links.

    The link token is HMAC(SECRET_KEY, nonce): the email task derives it from
    the row, so no usable token ever travels through the broker, and the
    database holds only its SHA-256 (``token_hash``) and the nonce. A link is
    bound to the address it was sent to (``email``).
    """

    user = pw.ForeignKeyField(User, backref="one_time_tokens", on_delete="CASCADE", index=True)
    purpose = pw.CharField(max_length=10, constraints=[pw.Check("purpose IN ('verify', 'reset')")])
    token_hash = pw.CharField(max_length=64, unique=True)
    email = pw.CharField(max_length=254, null=True)
    nonce = pw.CharField(max_length=64, null=True)
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)


class Address(BaseModel):
    user = pw.ForeignKeyField(User, backref="addresses", on_delete="CASCADE", index=True)
    full_name = pw.CharField(max_length=255)
    email = pw.CharField(max_length=254)
    phone_number = pw.CharField(max_length=20)
    street_address = pw.CharField(max_length=255)
    city = pw.CharField(max_length=100)
    state = pw.CharField(max_length=100)
    country = pw.CharField(max_length=100)
    zip_code = pw.CharField(max_length=20)
    is_default = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        # At most one default address per user, enforced by the database.
        indexes = (
            pw.SQL('CREATE UNIQUE INDEX IF NOT EXISTS "address_one_default" '
                   'ON "address" ("user_id") WHERE is_default'),
        )


class WaitlistEntry(BaseModel):
    email = pw.CharField(max_length=254, unique=True)
    created_at = pw.DateTimeField(default=utcnow)
