"""Categories, tags, sizes and colors.

Triggers (migrations/README.md): a category or tag rename re-indexes its
products (0002 category_rename_reindex, 0007 tag_rename_reindex) and the
lexicon (0007 search_word_category/_tag); the category tree feeds the search
index (0012 search_feed_categories) and the catalog cache version (0003
catalog_version_category).
"""
from __future__ import annotations

from typing import Any

import peewee as pw
from peewee import fn

from models.catalog.admin.common import SLUG_PATTERN, _constraint, _insert_with_slug, _missing_pk
from models.catalog.tables import Category, Color, Size, Tag
from models.core.db import db, fetch_one, transaction, utcnow
from models.core.errors import NotFound, ValidationFailed

CATEGORY_TREE_LOCK = 7_246_813  # advisory lock id: category parent changes


# --- categories, tags, sizes, colors --------------------------------------------------

def category_payload(c: dict) -> dict[str, Any]:
    return {"id": c["id"], "name": c["name"], "slug": c["slug"], "parent": c["parent"],
            "description": c["description"]}


async def list_categories() -> list[dict[str, Any]]:
    rows = await Category.select().order_by(Category.name, Category.id).dicts().aio_execute()
    return [category_payload(c) for c in rows]


async def get_category(category_id: int) -> dict[str, Any]:
    rows = await Category.select().where(Category.id == category_id).dicts().aio_execute()
    if not rows:
        raise NotFound("Category not found.")
    return category_payload(rows[0])


async def _check_parent(parent_id: int | None, category_id: int | None) -> None:
    if parent_id is None:
        return
    if not await Category.select().where(Category.id == parent_id).aio_exists():
        raise ValidationFailed.field("parent", _missing_pk([parent_id]))
    if category_id is None:
        return
    # Walk up from the new parent: meeting the category itself would close a loop.
    row = await fetch_one(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT id, parent_id FROM category WHERE id = %s"
        " UNION SELECT c.id, c.parent_id FROM category c JOIN up ON c.id = up.parent_id)"
        " SELECT EXISTS (SELECT 1 FROM up WHERE id = %s)", (parent_id, category_id))
    if row[0]:
        raise ValidationFailed.field("parent", "A category cannot be its own parent or the child of its own "
                                               "subcategory.")


async def _check_slug(slug: str | None, category_id: int | None) -> None:
    """An explicit slug: well formed and not another category's."""
    if not slug:
        return
    if not SLUG_PATTERN.match(slug):
        raise ValidationFailed.field("slug", "Lower-case letters, digits and single hyphens only.")
    query = Category.select().where(Category.slug == slug)
    if category_id is not None:
        query = query.where(Category.id != category_id)
    if await query.aio_exists():
        raise ValidationFailed.field("slug", "Category with this slug already exists.")


async def create_category(data: dict[str, Any]) -> dict[str, Any]:
    """Create a category with a unique slug from its name (or the ``slug`` given).
    Raises ValidationFailed (parent, slug)."""
    await _check_parent(data.get("parent"), None)
    await _check_slug(data.get("slug"), None)
    try:
        async with transaction():
            category_id = await _insert_with_slug(Category, data["name"], {
                "name": data["name"], "parent": data.get("parent"), "description": data.get("description") or "",
                "created_at": utcnow()})
            if data.get("slug"):
                await Category.update(slug=data["slug"]).where(Category.id == category_id).aio_execute()
    except pw.IntegrityError as exc:
        if _constraint(exc) == "category_slug":
            raise ValidationFailed.field("slug", "Category with this slug already exists.") from None
        raise
    return await get_category(category_id)


async def update_category(category_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change name, parent or description (the slug stays, so links keep working,
    unless a ``slug`` is given explicitly).

    Raises NotFound, ValidationFailed (unknown parent, or a parent that would make a cycle, a taken slug).
    """
    await get_category(category_id)
    columns = {k: ("" if k == "description" and v is None else v) for k, v in changes.items()
               if k in ("name", "parent", "description")}
    if changes.get("slug"):
        await _check_slug(changes["slug"], category_id)
        columns["slug"] = changes["slug"]
    if columns:
        async with transaction():
            if columns.get("parent") is not None:
                # Moves are serialised: two concurrent moves (A under B, B under A)
                # would each pass the check alone and make a loop together.
                await db.aio_execute_sql("SELECT pg_advisory_xact_lock(%s)", (CATEGORY_TREE_LOCK,))
                await _check_parent(columns["parent"], category_id)
            await Category.update(**columns).where(Category.id == category_id).aio_execute()
    return await get_category(category_id)


async def delete_category(category_id: int) -> None:
    """Delete a category; its products and subcategories lose it (SET NULL). Raises NotFound."""
    if not await Category.delete().where(Category.id == category_id).aio_execute():
        raise NotFound("Category not found.")


class _Taxonomy:
    """Tags, sizes and colors: named rows with a unique name (tags also a slug)."""

    def __init__(self, model: type[pw.Model], label: str, fields: tuple[str, ...]) -> None:
        self.model, self.label, self.fields = model, label, fields

    def payload(self, row: dict) -> dict[str, Any]:
        return {"id": row["id"], **{f: row[f] for f in self.fields}}

    async def list(self) -> list[dict[str, Any]]:
        order = self.model.id if self.model is Size else fn.LOWER(self.model.name)
        return [self.payload(r) for r in await self.model.select().order_by(order, self.model.id).dicts()
                .aio_execute()]

    async def get(self, row_id: int) -> dict[str, Any]:
        rows = await self.model.select().where(self.model.id == row_id).dicts().aio_execute()
        if not rows:
            raise NotFound(f"{self.label} not found.")
        return self.payload(rows[0])

    async def _check_name(self, name: str, exclude_id: int | None) -> None:
        query = self.model.select().where(fn.LOWER(self.model.name) == name.lower())
        if exclude_id is not None:
            query = query.where(self.model.id != exclude_id)
        if await query.aio_exists():
            raise ValidationFailed.field("name", f"{self.label} with this name already exists.")

    def _conflicts(self) -> dict[str, tuple[str, str]]:
        return {f"{self.model._meta.table_name}_name": ("name", f"{self.label} with this name already exists.")}

    async def create(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create a row; raises ValidationFailed when the name is taken (case-insensitively)."""
        await self._check_name(data["name"], None)
        columns = {k: v for k, v in data.items() if k in self.fields and k != "slug"}
        async with transaction():
            if "slug" in self.fields:
                row_id = await _insert_with_slug(self.model, data["name"], columns, on_conflict=self._conflicts())
            else:
                try:
                    async with db.aio_atomic():
                        row_id = await self.model.insert(**columns).aio_execute()
                except pw.IntegrityError as exc:
                    if _constraint(exc) in self._conflicts():
                        raise ValidationFailed.field(*self._conflicts()[_constraint(exc)]) from None
                    raise
        return await self.get(row_id)

    async def update(self, row_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the fields given (a tag keeps its slug). Raises NotFound, ValidationFailed."""
        await self.get(row_id)
        columns = {k: v for k, v in changes.items() if k in self.fields and k != "slug"}
        if "name" in columns:
            await self._check_name(columns["name"], row_id)
        if columns:
            try:
                async with transaction():
                    await self.model.update(**columns).where(self.model.id == row_id).aio_execute()
            except pw.IntegrityError as exc:
                if _constraint(exc) in self._conflicts():
                    raise ValidationFailed.field(*self._conflicts()[_constraint(exc)]) from None
                raise
        return await self.get(row_id)

    async def delete(self, row_id: int) -> None:
        if not await self.model.delete().where(self.model.id == row_id).aio_execute():
            raise NotFound(f"{self.label} not found.")


tags = _Taxonomy(Tag, "Tag", ("name", "slug"))
sizes = _Taxonomy(Size, "Size", ("name",))
colors = _Taxonomy(Color, "Color", ("name", "hex_code"))
