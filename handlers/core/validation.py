"""Input hygiene and validation: bounds of path parameters, NUL characters
(PostgreSQL cannot store them) anywhere in a request, the keys a schema reads,
and pydantic's errors as DRF-style field errors in DRF's wording."""
from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ValidationError

from models.core.errors import ValidationFailed

MAX_ID = 2_147_483_647  # ids are PostgreSQL integers
MAX_PATH_PARAM = 1000  # characters of a path parameter (tokens, uuids…)
NUL_MESSAGE = "Null characters are not allowed."


def check_text(value: str, field: str) -> None:
    """A NUL character cannot be stored by PostgreSQL: a field error, not a 500."""
    if "\x00" in value:
        raise ValidationFailed.field(field or "non_field_errors", NUL_MESSAGE)


@functools.lru_cache(maxsize=None)
def input_names(schema: type[BaseModel]) -> frozenset[str]:
    """The keys a request schema reads: its fields and their aliases."""
    names: set[str] = set()
    for name, field in schema.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif alias is not None and hasattr(alias, "choices"):
            names.update(c for c in alias.choices if isinstance(c, str))
        if field.alias:
            names.add(field.alias)
    return frozenset(names)


def check_json(data: Any, path: str = "") -> None:
    """``check_text`` over every key and string of a JSON document, errors keyed
    by the path (``variations.0.sku``)."""
    if isinstance(data, str):
        check_text(data, path)
    elif isinstance(data, dict):
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            check_text(key, sub)
            check_json(value, sub)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_json(value, f"{path}.{i}" if path else str(i))


def validate(schema: type[BaseModel], data: dict) -> Any:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors(exc)) from None


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors as DRF-style field errors, keyed by path (``email``,
    ``variations.0.sku``) so that nested rows can be pointed at."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "non_field_errors"
        errors.setdefault(key, []).append(_message(err))
    return errors


_MESSAGES = {
    "bool_type": "Must be a valid boolean.",
    "bool_parsing": "Must be a valid boolean.",
    "int_type": "A valid integer is required.",
    "int_parsing": "A valid integer is required.",
    "int_from_float": "A valid integer is required.",
    "float_type": "A valid number is required.",
    "float_parsing": "A valid number is required.",
    "decimal_type": "A valid number is required.",
    "decimal_parsing": "A valid number is required.",
    "string_type": "Not a valid string.",
    "string_unicode": "Not a valid string.",
    "json_invalid": "Value must be valid JSON.",
}


UNKNOWN_FIELD = "Unknown field."


def _message(err: dict) -> str:
    """One voice for every field error: DRF's wording, never pydantic's."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":  # a body field the operation does not know (handlers/core/fields.py In)
        return UNKNOWN_FIELD
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if err.get("input", ...) is None:
        return "This field may not be null."
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_long":
        return f"Ensure this field has no more than {ctx['max_length']} characters."
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "This field may not be blank."
        return f"Ensure this field has at least {ctx['min_length']} characters."
    if kind == "too_long":
        return f"Ensure this field has no more than {ctx['max_length']} elements."
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return "This list may not be empty."
        return f"Ensure this field has at least {ctx['min_length']} elements."
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"Ensure this value is greater than or equal to {bound}."
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"Ensure this value is less than or equal to {bound}."
    if kind in ("literal_error", "enum"):
        return f'"{err.get("input")}" is not a valid choice.'
    if kind in ("list_type", "model_type", "dict_type", "model_attributes_type"):
        expected = "a list of items" if kind == "list_type" else "a dictionary"
        return f'Expected {expected} but got type "{type(err.get("input")).__name__}".'
    if kind == "string_pattern_mismatch":
        return "Enter a valid value."
    if kind == "decimal_max_digits":
        return f"Ensure that there are no more than {ctx.get('max_digits')} digits in total."
    if kind == "decimal_max_places":
        return f"Ensure that there are no more than {ctx.get('decimal_places')} decimal places."
    if kind == "decimal_whole_digits":
        return f"Ensure that there are no more than {ctx.get('whole_digits')} digits before the decimal point."
    if kind.startswith(("date", "datetime")):
        return "Enter a valid date/time."
    return "Invalid value."
