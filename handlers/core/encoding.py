"""JSON out: orjson with the house's types (Decimal as a two-decimal string,
datetimes in ISO 8601 UTC, UUIDs and pydantic models)."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

from models.core.db import iso


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (dt.datetime, dt.date)):
        return iso(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
