"""Reusable pydantic field types for request schemas, with DRF-style messages."""
from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict


def _email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Enter a valid email address.") from None


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("This field may not be blank.")
    return value


def _str_or_none(value: object) -> object:
    return "" if value is None else value


Email = Annotated[str, AfterValidator(_email)]
NonBlank = Annotated[str, AfterValidator(_not_blank)]
OptionalText = Annotated[str, BeforeValidator(_str_or_none)]


class In(BaseModel):
    """Request schema base: unknown fields are ignored, as DRF clients expect."""

    model_config = ConfigDict(extra="ignore", str_max_length=10000)


class Out(BaseModel):
    """Response schema base (documentation of the shapes handlers send)."""

    model_config = ConfigDict(extra="allow")
