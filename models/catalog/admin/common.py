"""Helpers shared by the staff use cases: messages, constraint names, slugs."""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable

import peewee as pw

from models.core.db import db
from models.core.errors import AppError, ValidationFailed


def _plural(count: int, word: str = "product") -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _missing_pk(ids: Iterable[int]) -> str:
    return "Invalid pk " + ", ".join(f'"{i}"' for i in ids) + " - object does not exist."


def _constraint(exc: pw.IntegrityError) -> str:
    """The name of the constraint an IntegrityError violated ("" if unknown)."""
    for orig in (exc.args[0] if exc.args else None, exc.__cause__, exc.__context__):
        diag = getattr(orig, "diag", None)
        if diag is not None and getattr(diag, "constraint_name", None):
            return diag.constraint_name
    # Outside a savepoint peewee-async keeps only the message: the name is in it.
    found = re.search(r'constraint "([^"]+)"', str(exc.args[0]) if exc.args else "")
    return found.group(1) if found else ""


# --- slugs ---------------------------------------------------------------------

# A slug given explicitly by staff (products, categories, attributes): what slugify makes.
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

def slugify(text: str, max_length: int = 100) -> str:
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    value = re.sub(r"[-\s_]+", "-", value).strip("-")
    return value[:max_length].strip("-") or "item"


async def unique_slug(model: type[pw.Model], name: str, exclude_id: int | None = None) -> str:
    """A slug for ``name`` not yet used in ``model`` (``name``, ``name-2``, ...)."""
    base = slugify(name, model.slug.max_length - 8)
    query = model.select(model.slug).where((model.slug == base) | model.slug.startswith(base + "-"))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    taken = {row[0] for row in await query.tuples().aio_execute()}
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def _insert_with_slug(model: type[pw.Model], name: str, fields: dict[str, Any],
                            on_conflict: dict[str, tuple[str, str]] | None = None) -> int:
    """Insert a row with a fresh unique slug; retries when a concurrent insert took it.

    ``on_conflict`` maps other unique constraints to (field, message) for a 400.
    """
    for _attempt in range(5):
        slug = await unique_slug(model, name)
        try:
            async with db.aio_atomic():
                return await model.insert(slug=slug, **fields).aio_execute()
        except pw.IntegrityError as exc:
            name_ = _constraint(exc)
            if name_ == f"{model._meta.table_name}_slug":
                continue
            if on_conflict and name_ in on_conflict:
                field, message = on_conflict[name_]
                raise ValidationFailed.field(field, message) from None
            raise
    raise AppError("Could not generate a unique slug; try again.")
