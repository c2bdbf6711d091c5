"""Access tokens: the fast decoding of the tokens issue_token writes
(models.accounts.tokens._decode_own) accepts and refuses exactly what jwt.decode does."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import jwt
import orjson
import pytest

import settings
from models.accounts import tokens as account_tokens
from models.core.errors import Unauthorized

KEY = settings.SECRET_KEY


def reference(token: str, kind: str = "access") -> dict | None:
    """What PyJWT alone decides: the claims, or None (refused)."""
    try:
        claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"require": ["sub", "type", "exp", "jti"]})
    except jwt.PyJWTError:
        return None
    return claims if claims.get("type") == kind else None


def ours(token: str, kind: str = "access") -> dict | None:
    try:
        return account_tokens.decode_token(token, kind)
    except Unauthorized:
        return None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tokens() -> list[str]:
    now = int(time.time())
    good = {"sub": "7", "type": "access", "iat": now, "exp": now + 60, "jti": "j", "ver": 0}
    own, _, _ = account_tokens.issue_token(7, "access", version=3, sid="abc")
    header, payload, signature = own.split(".")
    made = [
        own, account_tokens.issue_token(7, "refresh")[0],
        jwt.encode(good, KEY, algorithm="HS256"),
        jwt.encode({**good, "exp": now - 1}, KEY, algorithm="HS256"),  # expired
        jwt.encode({**good, "exp": now}, KEY, algorithm="HS256"),  # expires now: expired
        jwt.encode({**good, "iat": now + 3600}, KEY, algorithm="HS256"),  # issued in the future
        jwt.encode({**good, "exp": str(now + 60)}, KEY, algorithm="HS256"),  # a string exp
        jwt.encode({**good, "exp": now + 60.5}, KEY, algorithm="HS256"),  # a float exp
        jwt.encode({**good, "sub": 7}, KEY, algorithm="HS256"),  # a number sub
        jwt.encode({**good, "jti": None}, KEY, algorithm="HS256"),  # a missing claim
        jwt.encode({k: v for k, v in good.items() if k != "exp"}, KEY, algorithm="HS256"),
        jwt.encode({**good, "aud": "someone"}, KEY, algorithm="HS256"),  # an audience we do not check
        jwt.encode({**good, "nbf": now + 3600}, KEY, algorithm="HS256"),  # not before
        jwt.encode({**good, "ver": True}, KEY, algorithm="HS256"),
        jwt.encode(good, KEY, algorithm="HS512"),  # another algorithm
        jwt.encode(good, KEY, algorithm="HS256", headers={"kid": "x"}),  # another header
        jwt.encode(good, "another-key-long-enough-for-hmac-sha256", algorithm="HS256"),  # forged
        f"{b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{payload}.",  # alg none
        f"{header}.{payload}.",  # no signature
        f"{header}.{payload}",  # two segments
        f"{header}.{payload}.{signature}=",  # padded signature (PyJWT accepts it)
        f"{header}.{payload}.{signature}.x",  # four segments
        f"{header}.{payload}x.{signature}",  # tampered payload
        f"{header}.{b64(orjson.dumps({**good, 'sub': '8'}))}.{signature}",  # another user, same signature
        f"{header}.{payload}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",  # tampered signature
        f"{header}.{payload}.{signature}é",  # not ASCII
        f"{header}.{b64(b'[1, 2]')}.{b64(b'x')}",
        "garbage", "", "..", "a.b.c",
    ]
    # Signed, but not a JSON object, or not JSON at all.
    for body in (b"[1, 2]", b"not json", orjson.dumps({**good, "extra": 1})):
        seg = b64(body)
        mac = hmac.new(KEY.encode(), f"{header}.{seg}".encode(), hashlib.sha256).digest()
        made.append(f"{header}.{seg}.{b64(mac)}")
    return made


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # (the HS512 token)
@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_own_decoding_agrees_with_pyjwt(kind):
    for token in tokens():
        assert ours(token, kind) == reference(token, kind), token


def test_own_decoding_takes_the_fast_path_only_for_own_tokens():
    token, _, _ = account_tokens.issue_token(7, "access", version=2, sid="s")
    assert account_tokens._decode_own(token)["sub"] == "7"
    forged = jwt.encode(jwt.decode(token, KEY, algorithms=["HS256"]), "another-key-long-enough-for-hmac-sha256",
                        algorithm="HS256")
    assert account_tokens._decode_own(forged) is None
    with pytest.raises(Unauthorized):
        now = int(time.time())
        account_tokens._decode_own(jwt.encode({"sub": "7", "type": "access", "iat": now - 10, "exp": now - 5, "jti": "j"},
                                    KEY, algorithm="HS256"))
