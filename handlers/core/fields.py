"""Reusable pydantic field types for request schemas, with DRF-style messages."""
from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

# --- the OpenAPI document states what the validators below enforce ----------------

NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store U+0000: a 400 everywhere (handlers/core/validation.py)
# Some character that is neither blank for Python's strip() nor NUL.
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
MAX_INT = 2_147_483_647  # ids and counts are PostgreSQL integers
_CONSTRAINTS = ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum", "description", "examples")


class Doc:
    """Annotation metadata: the JSON schema of a field type whose validator
    accepts more than its Python type says (numbers sent as strings, flags as
    "1"). Field-level constraints (``max_length``…) are carried over."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict:
        generated = handler(core_schema)
        out = dict(self.schema)
        for part in [generated, *generated.get("anyOf", [])]:
            for key in _CONSTRAINTS:
                if key in part and key not in out:
                    out[key] = part[key]
            if "pattern" in part:  # a field's own pattern is stricter than its type's
                out["pattern"] = part["pattern"]
        return out


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


class OrNull:
    """Annotation metadata: the field also takes null (its validator maps it to a default)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict:
        return nullable(handler(core_schema))


def _email_doc() -> dict:
    return {"type": "string", "format": "email", "maxLength": 254}


def _email(value: str) -> str:
    try:
        # test_environment: the reserved "test" domain too (what the document's format: email allows)
        return validate_email(value.strip(), check_deliverability=False, test_environment=True).normalized.lower()
    except EmailNotValidError:
        raise ValueError("Enter a valid email address.") from None


Email = Annotated[str, AfterValidator(_email), Doc(_email_doc())]
# models/accounts/passwords.py checks the rules; the document states them.
Password = Annotated[str, Field(max_length=128), Doc({
    "type": "string", "minLength": 8, "pattern": r"^[^\x00]*[^0-9\x00][^\x00]*$",
    "description": "At least 8 characters, not entirely numeric"})]


IGNORED_DOC = "Accepted and ignored: the spec's request example sends it, this operation does not use it."


def _document_ignored(schema: dict, model: type) -> None:
    for name in getattr(model, "ignored_fields", ()):
        schema.setdefault("properties", {})[name] = {"description": IGNORED_DOC}


class In(BaseModel):
    """Request schema base. A field the operation does not know is a 400 naming it
    ("Unknown field."), never dropped silently: a client's typo or a field this
    operation does not have (``valid_until`` for ``valid_to``) must not be lost
    quietly. ``ignored_fields`` lists the few fields the spec's own request
    examples send that an operation does not use: accepted, documented as
    ignored, and dropped before anything else looks at them."""

    model_config = ConfigDict(extra="forbid", str_max_length=10000, json_schema_extra=_document_ignored)
    ignored_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if cls.ignored_fields and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in cls.ignored_fields}
        return data


class Query(In):
    """Query-string schema base: text values are at most 1000 characters
    (``BaseHandler.query`` passes only the parameters the schema reads)."""

    model_config = ConfigDict(extra="ignore", str_max_length=1000)


# Money in answers: a two-decimal string ("1305.59"), as NUMERIC(12,2) holds it.
MONEY_PATTERN = r"^-?\d{1,10}\.\d{2}$"
MoneyText = Annotated[str, Field(pattern=MONEY_PATTERN, examples=["99.99"])]


class Out(BaseModel):
    """Response schema base: the shapes handlers send, closed (the document says
    ``additionalProperties: false``, and tests check every answer against it)."""

    model_config = ConfigDict(extra="forbid")


# --- DRF-style scalar types: what the dashboard's forms send (numbers as strings,
# "true"/"1" flags, pk lists) is accepted, with DRF's messages otherwise. ---------


NUMBER = "A valid number is required."
INTEGER = "A valid integer is required."
NOT_NULL = "This field may not be null."


def ascii_digits(text: str) -> bool:
    """Only 0-9 are digits in the API: str.isdigit() and int() also take "٣", "３" and "²"."""
    return bool(text) and text.isascii() and text.isdigit()


def _decimal(*, null: bool, minimum: Decimal | None, max_digits: int = 12, places: int = 2):
    def check(value: Any) -> Decimal | None:
        if value is None or (null and isinstance(value, str) and not value.strip()):
            if null:
                return None
            raise ValueError(NOT_NULL)
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValueError(NUMBER)
        if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError(NUMBER)
        try:
            number = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise ValueError(NUMBER) from None
        if not number.is_finite():
            raise ValueError(NUMBER)
        if isinstance(value, float):  # a binary float has no decimal places to check: half-up to the unit
            try:
                number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
            except InvalidOperation:  # more digits than the context holds (1e307)
                raise ValueError(f"Ensure that there are no more than {max_digits - places} digits "
                                 "before the decimal point.") from None
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


# ASCII digits only: "٣" or "３" is not a number here (int() and Decimal() would read them).
_DECIMAL_TEXT = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*|\s*[-+]?\.[0-9]+\s*")


def _decimal_doc(*, null: bool, minimum: Decimal | None, max_digits: int = 12, places: int = 2) -> Doc:
    whole = max_digits - places
    top = float(Decimal(10) ** whole - Decimal(1).scaleb(-places))
    sign = "" if minimum is not None else "-?"
    number: dict = {"type": "number", "maximum": top, "minimum": float(minimum) if minimum is not None else -top}
    text = {"type": "string", "pattern": rf"^{sign}\d{{1,{whole}}}(\.\d{{0,{places}}})?$"}
    variants = [number, text] + ([{"type": "null"}] if null else [])
    desc = (f"Decimal with at most {places} decimal places (a JSON number is rounded half-up to the cent)"
            + ("; null or an empty string clears it" if null else ""))
    if null:
        variants.insert(2, {"type": "string", "maxLength": 0})
    return Doc({"anyOf": variants, "description": desc})


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
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", value):
            number = int(value)
        else:
            raise ValueError(INTEGER)
        if number < minimum:
            raise ValueError(f"Ensure this value is greater than or equal to {minimum}.")
        if number > MAX_INT:
            raise ValueError(f"Ensure this value is less than or equal to {MAX_INT}.")
        return number

    return BeforeValidator(check)


def _integer_doc(minimum: int = 0) -> Doc:
    text = r"^\+?\d{1,9}$" if minimum < 1 else INT_TEXT_POSITIVE
    return Doc({"anyOf": [{"type": "integer", "minimum": minimum, "maximum": MAX_INT},
                          {"type": "string", "pattern": text}]})


INT_TEXT_POSITIVE = r"^\+?0*[1-9]\d{0,8}$"


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


def lower_choice(value: Any) -> Any:
    """Choices accepted in any case and with surrounding spaces ("Stripe ")."""
    return value.strip().lower() if isinstance(value, str) else value


def upper_choice(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _required_pk(value: Any) -> int:
    if value is None or value == "":
        raise ValueError("This field is required.")
    pk = _pk(value)
    assert pk is not None
    return pk


def _pk(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():  # JSON 5.0 is the integer 5
        value = int(value)
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit()
                                                                   and value.isascii())):
        raise ValueError(f"Incorrect type. Expected pk value, received {type(value).__name__}.")
    if not 1 <= int(value) <= MAX_INT:
        raise ValueError(f'Invalid pk "{value}" - object does not exist.')
    return int(value)


PK_DOC = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    {"type": "string", "pattern": r"^[1-9]\d{0,8}$"}]}
# One type per variant (code generators refuse an enum that mixes types).
FLAG_TEXT = ["true", "false", "1", "0", "yes", "no", "on", "off"]
FLAG_DOC = {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}, {"type": "string", "enum": FLAG_TEXT}]}
# A flag in a query string is text (blank: not set).
QUERY_FLAG_DOC = {"type": "string", "enum": [*FLAG_TEXT, ""]}


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
    """Text is a JSON string: the document types it so, and a generated client
    (or a TypeScript type) then has one type to send, not ``string | number``."""
    if value is not None and not isinstance(value, str):
        raise ValueError("Not a valid string.")
    return value


def _required_text(value: Any) -> Any:
    if value is None:
        raise ValueError(NOT_NULL)
    return _text(value)


def _not_blank(value: str) -> str:
    # After the length check, so that max_length counts what the client sent (as the document does).
    value = value.strip()
    if not value:
        raise ValueError("This field may not be blank.")
    return value


def _optional_text(value: Any) -> Any:
    value = _text(value)
    return "" if value is None else value


def _optional_code(value: Any) -> Any:
    value = _text(value)
    return None if isinstance(value, str) and not value.strip() else value


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _details(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'Expected a list of items but got type "{type(value).__name__}".')
    if not all(isinstance(v, str) for v in value):
        raise ValueError("Each item must be a string.")
    return [v.strip() for v in value if v.strip()]


def choice_doc(choices: tuple[str, ...], synonyms: dict[str, str] | None = None, null: bool = False) -> Doc:
    values: list = [*choices, *(synonyms or {})]
    text = {"type": "string", "enum": values}
    return Doc(nullable(text) if null else text)


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


def _country_code(value: Any) -> str | None:
    """A calling code phonenumbers knows (``+234``, ``234``); blank or null: none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    digits = text[1:] if text.startswith("+") else text
    if not (digits.isascii() and digits.isdigit() and int(digits) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        raise ValueError("Enter a valid country calling code, such as +234.")
    return f"+{int(digits)}"


def _country_code_doc() -> Doc:
    # A pattern rather than an enum of ~250 codes: the operations that take it
    # answer 400 for a code no country uses (their x-valid-input-statuses say so).
    return Doc({"anyOf": [{"type": "string", "pattern": r"^\+?[1-9]\d{0,2}$"},
                          {"type": "string", "maxLength": 0}, {"type": "null"}],
                "description": "A country calling code such as +234 (the profile lists them in "
                               "available_country_codes); null or blank for none"})


_TEXT_DOC = {"type": "string", "pattern": NOT_BLANK}
_OPTIONAL_TEXT_DOC = {"anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "null"}]}

Text = Annotated[str, BeforeValidator(_required_text), AfterValidator(_not_blank), Doc(_TEXT_DOC)]
OptionalText = Annotated[str, BeforeValidator(_optional_text), Doc(_OPTIONAL_TEXT_DOC)]
Code = Annotated[str | None, BeforeValidator(_optional_code), AfterValidator(_strip), Doc(_OPTIONAL_TEXT_DOC)]
Money = Annotated[Decimal, _decimal(null=False, minimum=Decimal(0)), _decimal_doc(null=False, minimum=Decimal(0))]
OptionalMoney = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal(0)),
                          _decimal_doc(null=True, minimum=Decimal(0))]
Adjustment = Annotated[Decimal, _decimal(null=False, minimum=None), _decimal_doc(null=False, minimum=None)]
Dimension = Annotated[Decimal | None, _decimal(null=True, minimum=Decimal(0), max_digits=10),
                      _decimal_doc(null=True, minimum=Decimal(0), max_digits=10)]
Quantity = Annotated[int, _integer(0), _integer_doc(0)]
PositiveQuantity = Annotated[int, _integer(1), _integer_doc(1)]
Flag = Annotated[bool, BeforeValidator(_flag), Doc(FLAG_DOC)]
# A flag that may be left out or null (a line's own flag: None falls back to the body's).
OptionalFlag = Annotated[bool | None, BeforeValidator(lambda v: None if v is None else _flag(v)),
                         Doc({"anyOf": [*FLAG_DOC["anyOf"], {"type": "null"}]})]
Pk = Annotated[int | None, BeforeValidator(_pk), Doc({"anyOf": [*PK_DOC["anyOf"], {"type": "null"},
                                                                {"type": "string", "maxLength": 0}]})]
RequiredPk = Annotated[int, BeforeValidator(_required_pk), Doc(PK_DOC)]
PkList = Annotated[list[int], BeforeValidator(pk_list), Doc({"anyOf": [{"type": "array", "items": PK_DOC},
                                                                       {"type": "null"}]})]
Details = Annotated[list[str], BeforeValidator(_details),
                    Doc({"anyOf": [{"type": "array", "items": {"type": "string", "pattern": NO_NUL}},
                                   {"type": "null"}]})]
HexColor = Annotated[str, BeforeValidator(_hex_color),
                     Doc({"type": "string", "pattern": r"^\s*#[0-9A-Fa-f]{6}\s*$"})]
def _iso_date(value: Any) -> Any:
    # YYYY-MM-DD text only, as documented (pydantic alone would read "0" as 1970-01-01).
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not (isinstance(value, str) and re.fullmatch(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*", value)):
        raise ValueError("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.")
    return value.strip()


IsoDate = Annotated[dt.date | None, BeforeValidator(_iso_date),
                    Doc({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]})]
def _iso_time(value: Any) -> Any:
    # hh:mm[:ss] text only, as documented (pydantic alone would read 0 as midnight).
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not (isinstance(value, str) and re.fullmatch(r"\s*[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?\s*", value)):
        raise ValueError("Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]].")
    return value.strip()


IsoTime = Annotated[dt.time | None, BeforeValidator(_iso_time),
                    Doc({"anyOf": [{"type": "string", "pattern": r"^\s*\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*$"},
                                   {"type": "string", "maxLength": 0}]})]

IdList = Annotated[list[int], BeforeValidator(pk_list), Doc({"type": "array", "items": PK_DOC})]  # no null
CountryCode = Annotated[str | None, BeforeValidator(_country_code), _country_code_doc()]


def partial(model: type[In], name: str) -> type[In]:
    """The PATCH twin of ``model``: every field optional, nothing defaulted, and
    an explicit null still rejected where the field is not nullable (the
    document shows no default for such a field)."""
    fields = {}
    for key, f in model.model_fields.items():
        info = copy.copy(f)
        info.default, info.default_factory = None, None
        info.json_schema_extra = _no_default
        fields[key] = (f.annotation, info)  # the copied FieldInfo keeps validators and constraints
    return create_model(name, __base__=model, **fields)


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


# --- query-string parameters ----------------------------------------------------------

BLANK = {"type": "string", "maxLength": 0}
# Read by BaseHandler.page_params (a bad page is 404, a bad page_size 400): documented here.
PageParam = Annotated[str | None, Doc({"anyOf": [{"type": "integer", "minimum": 1}, BLANK],
                                       "description": "Page number, from 1 (past the last page: 404)"})]
PageSizeParam = Annotated[str | None, Doc({"anyOf": [{"type": "integer", "minimum": 1}, BLANK],
                                           "description": "Items per page (at most 100 are returned)"})]
QueryFlag = Annotated[bool | None, Doc({"anyOf": [{"type": "boolean"}, BLANK]})]


def choices_doc(values: tuple[str, ...] | list[str], blank: bool = True, description: str = "") -> Doc:
    schema: dict = {"type": "string", "enum": list(values) + ([""] if blank else [])}
    if description:
        schema["description"] = description
    return Doc(schema)


def list_pattern(values: tuple[str, ...] | list[str]) -> str:
    """A comma-separated list of ``values`` (blank items ignored), as a pattern."""
    one = "(?:" + "|".join(re.escape(v) for v in values) + ")"
    return rf"^[ ,]*(?:{one}(?: *, *(?:{one})?)*)? *$"
