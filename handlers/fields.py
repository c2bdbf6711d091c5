"""Reusable pydantic field types for request schemas, with DRF-style messages."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model


def _email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Enter a valid email address.") from None


Email = Annotated[str, AfterValidator(_email)]


class In(BaseModel):
    """Request schema base: unknown fields are ignored, as DRF clients expect."""

    model_config = ConfigDict(extra="ignore", str_max_length=10000)


class Out(BaseModel):
    """Response schema base (documentation of the shapes handlers send)."""

    model_config = ConfigDict(extra="allow")


# --- DRF-style scalar types: what the dashboard's forms send (numbers as strings,
# "true"/"1" flags, pk lists) is accepted, with DRF's messages otherwise. ---------


NUMBER = "A valid number is required."
INTEGER = "A valid integer is required."
NOT_NULL = "This field may not be null."


def _decimal(*, null: bool, minimum: Decimal | None, max_digits: int = 12, places: int = 2):
    def check(value: Any) -> Decimal | None:
        if value is None or (null and isinstance(value, str) and not value.strip()):
            if null:
                return None
            raise ValueError(NOT_NULL)
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValueError(NUMBER)
        try:
            number = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise ValueError(NUMBER) from None
        if not number.is_finite():
            raise ValueError(NUMBER)
        if minimum is not None and number < minimum:
            raise ValueError(f"Ensure this value is greater than or equal to {minimum}.")
        _sign, digits, exponent = number.normalize().as_tuple()
        decimals = max(0, -exponent)
        whole = max(0, len(digits) + exponent)
        if decimals > places:
            raise ValueError(f"Ensure that there are no more than {places} decimal places.")
        if whole > max_digits - places:
            raise ValueError(f"Ensure that there are no more than {max_digits - places} digits before the "
                             "decimal point.")
        return number.quantize(Decimal(1).scaleb(-places))

    return BeforeValidator(check)


def _integer(minimum: int = 0):
    def check(value: Any) -> int:
        if value is None:
            raise ValueError(NOT_NULL)
        if isinstance(value, bool):
            raise ValueError(INTEGER)
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            number = int(value)
        else:
            raise ValueError(INTEGER)
        if number < minimum:
            raise ValueError(f"Ensure this value is greater than or equal to {minimum}.")
        if number > 2_147_483_647:
            raise ValueError("Ensure this value is less than or equal to 2147483647.")
        return number

    return BeforeValidator(check)


def _flag(value: Any) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError("Must be a valid boolean.")


def _required_pk(value: Any) -> int:
    if value is None or value == "":
        raise ValueError("This field is required.")
    pk = _pk(value)
    assert pk is not None
    return pk


def _pk(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError(f"Incorrect type. Expected pk value, received {type(value).__name__}.")
    return int(value)


def pk_list(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'Expected a list of items but got type "{type(value).__name__}".')
    out = []
    for item in value:
        pk = _pk(item)
        if pk is None:
            raise ValueError("Incorrect type. Expected pk value, received null.")
        out.append(pk)
    return out


def _text(value: Any) -> Any:
    """Numbers sent for text fields (an all-digit SKU) are taken as text."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    return value


def _required_text(value: Any) -> Any:
    value = _text(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("This field may not be blank.")
    return value


def _optional_text(value: Any) -> Any:
    value = _text(value)
    return "" if value is None else value


def _optional_code(value: Any) -> Any:
    value = _text(value)
    if isinstance(value, str):
        value = value.strip()
    return value or None


def _details(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'Expected a list of items but got type "{type(value).__name__}".')
    if not all(isinstance(v, str) for v in value):
        raise ValueError("Each item must be a string.")
    return [v.strip() for v in value if v.strip()]


def choice(choices: tuple[str, ...], synonyms: dict[str, str] | None = None, null: bool = False):
    def check(value: Any) -> str | None:
        if value is None or value == "":
            if null:
                return None
            raise ValueError(NOT_NULL if value is None else f'"{value}" is not a valid choice.')
        text = str(value).strip().lower()
        text = (synonyms or {}).get(text, text)
        if text not in choices:
            raise ValueError(f'"{value}" is not a valid choice.')
        return text

    return BeforeValidator(check)


def none_to_list(value: Any) -> Any:
    return [] if value is None else value


def _hex_color(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"#[0-9A-Fa-f]{6}", value.strip()):
        raise ValueError("Enter a valid hex color code in the form #RRGGBB.")
    return value.strip().upper()


Text = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[str, BeforeValidator(_optional_text)]
Code = Annotated[str | None, BeforeValidator(_optional_code)]
Money = Annotated[Decimal, _decimal(null=False, minimum=Decimal(0))]
OptionalMoney = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal(0))]
Adjustment = Annotated[Decimal, _decimal(null=False, minimum=None)]
Dimension = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal(0), max_digits=10)]
Quantity = Annotated[int, _integer(0)]
PositiveQuantity = Annotated[int, _integer(1)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Pk = Annotated[int | None, BeforeValidator(_pk)]
RequiredPk = Annotated[int, BeforeValidator(_required_pk)]
PkList = Annotated[list[int], BeforeValidator(pk_list)]
Details = Annotated[list[str], BeforeValidator(_details)]
HexColor = Annotated[str, BeforeValidator(_hex_color)]


def partial(model: type[In], name: str) -> type[In]:
    """The PATCH twin of ``model``: every field optional, nothing defaulted, and
    an explicit null still rejected where the field is not nullable."""
    fields = {key: (Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation, Field(default=None))
              for key, f in model.model_fields.items()}
    return create_model(name, __base__=model, **fields)
