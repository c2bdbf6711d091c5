"""Countries and their states (ISO 3166-1 / 3166-2 from pycountry), built once
per process: the lists never change while it runs."""
from __future__ import annotations

import functools

import pycountry

from models.core.errors import NotFound


@functools.lru_cache(maxsize=1)
def countries() -> list[dict[str, str]]:
    """Every country as ``{code, code3, name, phone_code?}``, sorted by name."""
    import phonenumbers

    out = []
    for c in pycountry.countries:
        code = phonenumbers.country_code_for_region(c.alpha_2)
        out.append({
            "code": c.alpha_2,
            "code3": c.alpha_3,
            "name": getattr(c, "common_name", None) or c.name,
            "phone_code": f"+{code}" if code else "",
        })
    return sorted(out, key=lambda c: c["name"])


@functools.lru_cache(maxsize=1)
def _by_code() -> dict[str, str]:
    index = {}
    for c in pycountry.countries:
        index[c.alpha_2] = c.alpha_2
        index[c.alpha_3] = c.alpha_2
    return index


@functools.lru_cache(maxsize=None)
def _states_of(alpha_2: str) -> tuple[dict[str, str], ...]:
    subdivisions = pycountry.subdivisions.get(country_code=alpha_2) or []
    rows = [{"code": s.code, "name": s.name, "type": s.type} for s in subdivisions]
    return tuple(sorted(rows, key=lambda s: s["name"]))


def states(code: str) -> list[dict[str, str]]:
    """The subdivisions (states, provinces, regions…) of country ``code``
    (alpha-2 or alpha-3, any case). Raises NotFound for an unknown country."""
    alpha_2 = _by_code().get((code or "").strip().upper())
    if alpha_2 is None:
        raise NotFound("Country not found")
    return list(_states_of(alpha_2))


def find_country(value: str) -> str | None:
    """The alpha-2 code of a country given by alpha-2 or alpha-3 code or by
    name (any case), None if pycountry knows no such country."""
    text = (value or "").strip()
    if not text:
        return None
    code = _by_code().get(text.upper())
    if code is not None:
        return code
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None
