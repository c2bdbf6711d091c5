"""Staff use cases for typed attributes (migration 0024): attributes, their
values, and (through products.py) their assignment to products.

An attribute's and a value's slug is made from the name unless given, and
kept on rename (it is what filter URLs carry). A number attribute has no values.

Triggers (migrations/README.md): every write here moves the catalog cache
version (0024 catalog_version_attribute, catalog_version_attribute_value,
catalog_version_product_attribute_*), so cached facet counts never go stale.
"""
from __future__ import annotations

import re
from typing import Any

import peewee as pw

from models.catalog.admin.common import _constraint, slugify
from models.catalog.tables import Attribute, AttributeValue
from models.core.db import fetch_all, transaction
from models.core.errors import NotFound, ValidationFailed

NOT_FOUND = "Attribute not found"
VALUE_NOT_FOUND = "Attribute value not found"
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_ID = 2**31 - 1


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def _payloads(attribute_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Attributes with their values and how many products use them (one query)."""
    rows = await fetch_all(
        "SELECT a.id, a.name, a.slug, a.kind, a.unit, a.position, "
        "COALESCE((SELECT json_agg(json_build_array(v.id, v.value, v.slug, v.position, "
        "(SELECT count(*) FROM product_attribute_value x WHERE x.value_id = v.id)) ORDER BY v.position, v.id) "
        "FROM attribute_value v WHERE v.attribute_id = a.id), '[]') "
        "FROM attribute a WHERE %(ids)s::int[] IS NULL OR a.id = ANY(%(ids)s::int[]) ORDER BY a.position, a.id",
        {"ids": attribute_ids})
    return [{"id": r[0], "name": r[1], "slug": r[2], "kind": r[3], "unit": r[4], "position": r[5],
             "values": [{"id": v[0], "value": v[1], "slug": v[2], "position": v[3], "products_count": v[4]}
                        for v in r[6]]} for r in rows]


async def list_attributes() -> list[dict[str, Any]]:
    return await _payloads()


async def get_attribute(attribute_id: int) -> dict[str, Any]:
    found = await _payloads([attribute_id]) if _valid_id(attribute_id) else []
    if not found:
        raise NotFound(NOT_FOUND)
    return found[0]


def _slug(given: str | None, name: str, field: str = "slug") -> str:
    if given:
        slug = given.strip().lower()
        if not SLUG.match(slug):
            raise ValidationFailed(errors={field: ["Lower-case letters, digits and single hyphens only."]})
        return slug
    return slugify(name, 50)


def _value_rows(values: list[Any]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for n, item in enumerate(values):
        value = item if isinstance(item, str) else item["value"]
        slug = _slug(None if isinstance(item, str) else item.get("slug"), value, "values")
        if slug in seen:
            raise ValidationFailed(errors={"values": [f"Two values have the slug '{slug}'."]})
        seen.add(slug)
        rows.append({"value": value.strip(), "slug": slug, "position": n})
    return rows


async def create_attribute(data: dict[str, Any]) -> dict[str, Any]:
    """Create an attribute (and, for a choice, its ``values``). 400 for a taken slug,
    values on a number attribute."""
    slug = _slug(data.get("slug"), data["name"])
    values = data.get("values") or []
    if data["kind"] == "number" and values:
        raise ValidationFailed(errors={"values": ["A number attribute has no values."]})
    rows = _value_rows(values)
    try:
        async with transaction():
            attribute_id = await Attribute.insert(name=data["name"].strip(), slug=slug, kind=data["kind"],
                                                  unit=data.get("unit") or "",
                                                  position=data.get("position") or 0).aio_execute()
            if rows:
                await AttributeValue.insert_many([{**r, "attribute": attribute_id} for r in rows]).aio_execute()
    except pw.IntegrityError as exc:
        raise _integrity(exc) from None
    return await get_attribute(attribute_id)


def _integrity(exc: pw.IntegrityError) -> Exception:
    name = _constraint(exc)
    if name == "attribute_slug":
        return ValidationFailed(errors={"slug": ["An attribute with this slug already exists."]})
    if name == "attribute_value_slug":
        return ValidationFailed(errors={"slug": ["This attribute already has a value with this slug."]})
    return exc


async def update_attribute(attribute_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Rename, re-slug (explicitly), change unit or position. The kind stays (products hold values of it)."""
    current = await get_attribute(attribute_id)
    columns = {k: v for k, v in changes.items() if k in ("name", "unit", "position") and v is not None}
    if changes.get("slug"):
        columns["slug"] = _slug(changes["slug"], current["name"])
    if "kind" in changes and changes["kind"] not in (None, current["kind"]):
        raise ValidationFailed(errors={"kind": ["The kind of an attribute cannot change; create another."]})
    if columns:
        try:
            async with transaction():
                await Attribute.update(**columns).where(Attribute.id == attribute_id).aio_execute()
        except pw.IntegrityError as exc:
            raise _integrity(exc) from None
    return await get_attribute(attribute_id)


async def delete_attribute(attribute_id: int) -> None:
    """Delete an attribute, its values and every product's assignment of it."""
    if not _valid_id(attribute_id) or not await Attribute.delete().where(Attribute.id == attribute_id).aio_execute():
        raise NotFound(NOT_FOUND)


async def add_value(attribute_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Add a value to a choice attribute; returns the attribute."""
    current = await get_attribute(attribute_id)
    if current["kind"] != "choice":
        raise ValidationFailed(errors={"value": ["A number attribute has no values."]})
    slug = _slug(data.get("slug"), data["value"])
    position = data.get("position")
    if position is None:
        position = max([v["position"] for v in current["values"]], default=-1) + 1
    try:
        async with transaction():
            await AttributeValue.insert(attribute=attribute_id, value=data["value"].strip(), slug=slug,
                                        position=position).aio_execute()
    except pw.IntegrityError as exc:
        raise _integrity(exc) from None
    return await get_attribute(attribute_id)


async def _value(value_id: int) -> AttributeValue:
    value = await AttributeValue.aio_get_or_none(AttributeValue.id == value_id) if _valid_id(value_id) else None
    if value is None:
        raise NotFound(VALUE_NOT_FOUND)
    return value


async def update_value(value_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Rename a value (its slug stays unless given), or move it; returns its attribute."""
    value = await _value(value_id)
    columns = {k: v for k, v in changes.items() if k in ("value", "position") and v is not None}
    if changes.get("slug"):
        columns["slug"] = _slug(changes["slug"], value.value)
    if columns:
        try:
            async with transaction():
                await AttributeValue.update(**columns).where(AttributeValue.id == value_id).aio_execute()
        except pw.IntegrityError as exc:
            raise _integrity(exc) from None
    return await get_attribute(value.attribute_id)


async def delete_value(value_id: int) -> None:
    """Delete a value and its assignments to products."""
    value = await _value(value_id)
    await AttributeValue.delete().where(AttributeValue.id == value.id).aio_execute()
