"""bcrypt, always off the event loop."""
from __future__ import annotations

import asyncio

import bcrypt

import settings

MIN_LENGTH = 8
# A real hash to compare against when the user does not exist, so that a
# login for an unknown email takes as long as one with a wrong password.
_DUMMY = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(4)).decode()


def _bytes(password: str) -> bytes:
    return password.encode("utf-8")[:72]  # bcrypt reads at most 72 bytes


async def hash_password(password: str) -> str:
    loop = asyncio.get_running_loop()
    salt = bcrypt.gensalt(settings.BCRYPT_ROUNDS)
    hashed = await loop.run_in_executor(None, bcrypt.hashpw, _bytes(password), salt)
    return hashed.decode()


async def check_password(password: str, hashed: str | None) -> bool:
    loop = asyncio.get_running_loop()
    target = (hashed or _DUMMY).encode()
    ok = await loop.run_in_executor(None, bcrypt.checkpw, _bytes(password), target)
    return ok and hashed is not None


def password_errors(password: str) -> list[str]:
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"This password is too short. It must contain at least {MIN_LENGTH} characters.")
    if password.isascii() and password.isdigit():  # "entirely numeric" as the document says: 0-9
        errors.append("This password is entirely numeric.")
    return errors
