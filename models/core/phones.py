"""Phone numbers, validated and formatted with the phonenumbers library."""
from __future__ import annotations

import functools

import phonenumbers
import pycountry

from models.core.errors import ValidationFailed

INVALID = "Invalid phone number format"


def parse_phone(number: str, country_code: str | None = None, field: str = "phone_number") -> tuple[str, str]:
    """``("8012345678", "+234")`` → ``("+2348012345678", "+234")``.

    A number written with ``+`` carries its own country code. Raises
    ValidationFailed for anything that is not a valid number.
    """
    number = (number or "").strip()
    code = (country_code or "").strip()
    if code and not code.startswith("+"):
        code = "+" + code
    text = number if number.startswith("+") else f"{code}{number.lstrip('0')}" if code else number
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.field(field, INVALID) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed.field(field, INVALID)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), f"+{parsed.country_code}"


def format_phone(e164: str | None) -> str | None:
    """``"+2348012345678"`` → ``"+234 801 234 5678"``."""
    if not e164:
        return None
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@functools.lru_cache(maxsize=1)
def available_country_codes() -> dict[str, str]:
    """Calling code → country name, one country per code (the most populous
    region phonenumbers lists first), sorted by country name."""
    codes: dict[str, str] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            country = pycountry.countries.get(alpha_2=region)
            if country is not None:
                codes[f"+{code}"] = getattr(country, "common_name", None) or country.name
                break
    return dict(sorted(codes.items(), key=lambda kv: kv[1]))
