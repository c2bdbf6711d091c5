"""bcrypt, always off the event loop."""
from __future__ import annotations

import asyncio

import bcrypt

import settings

MIN_LENGTH = 8
# A real hash to compare against when the user does not exist (or has no
# password), so that such a login takes as long as a wrong password: made
# once per process at the configured cost, off the event loop.
_dummy: dict[int, bytes] = {}


def _bytes(password: str) -> bytes:
    return password.encode("utf-8")[:72]  # bcrypt reads at most 72 bytes


async def hash_password(password: str) -> str:
    loop = asyncio.get_running_loop()
    salt = bcrypt.gensalt(settings.BCRYPT_ROUNDS)
    hashed = await loop.run_in_executor(None, bcrypt.hashpw, _bytes(password), salt)
    return hashed.decode()


def _dummy_hash() -> bytes:
    rounds = settings.BCRYPT_ROUNDS
    if rounds not in _dummy:
        _dummy[rounds] = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds))
    return _dummy[rounds]


def _check(password: bytes, hashed: str | None) -> bool:
    if hashed is None:
        bcrypt.checkpw(password, _dummy_hash())
        return False
    return bcrypt.checkpw(password, hashed.encode())


async def check_password(password: str, hashed: str | None) -> bool:
    """``password`` matches ``hashed``; with no hash, spends the same time and says no."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _check, _bytes(password), hashed)


async def warm_up() -> None:
    """Make the dummy hash now (server start), not on the first unknown-email login."""
    await asyncio.get_running_loop().run_in_executor(None, _dummy_hash)


def password_errors(password: str) -> list[str]:
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"This password is too short. It must contain at least {MIN_LENGTH} characters.")
    if password.isascii() and password.isdigit():  # "entirely numeric" as the document says: 0-9
        errors.append("This password is entirely numeric.")
    return errors
