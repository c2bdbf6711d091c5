"""Typed product attributes (issue 22): staff manage attributes (choice:
material, colour; number: width, height, depth with a unit) and their values;
products get them in the admin product create/update (``attributes``);
shoppers filter on them (``attr_*`` on the product list and search) and read
their counts at ``/api/products/facets/``. Rules: models/catalog/admin/attributes.py."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import In, Out, Quantity, Text, lower_choice, partial
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.catalog.admin import attributes as attrs

SLUG_RE = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Kind = Annotated[Literal["choice", "number"], BeforeValidator(lower_choice)]
Position = Quantity  # 0 or more: the order in lists and facets


class ValueIn(In):
    value: Text = Field(max_length=100)
    slug: str | None = Field(default=None, max_length=120, pattern=SLUG_RE,
                             description="Made from the value unless given; kept on rename")
    position: Position | None = None


ValuePatch = partial(ValueIn, "AttributeValuePatch")


class AttributeIn(In):
    name: Text = Field(max_length=100)
    slug: str | None = Field(default=None, max_length=60, pattern=SLUG_RE,
                             description="The filter's name (attr_<slug>); made from the name unless given")
    kind: Kind = Field(description="choice (values) or number (a measure)")
    unit: str = Field(default="", max_length=20, pattern=r"^[^\x00]*$", description='e.g. "cm" for a number')
    position: Position = 0
    values: list[Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")]] = Field(
        default=[], max_length=200, description="A choice attribute's values, in order (slugs made from them)")


class AttributePatch(In):
    name: Text | None = Field(default=None, max_length=100)
    slug: str | None = Field(default=None, max_length=60, pattern=SLUG_RE, description="A new slug (filters change)")
    unit: str | None = Field(default=None, max_length=20, pattern=r"^[^\x00]*$")
    position: Position | None = None


class AttributeValueOut(Out):
    id: int
    value: str
    slug: str
    position: int
    products_count: int


class AttributeOut(Out):
    id: int
    name: str
    slug: str
    kind: str
    unit: str
    position: int
    values: list[AttributeValueOut]


REJECTS = {400: "a slug already in use, values on a number attribute, or a change of kind"}


class AttributeListHandler(BaseHandler):
    role = ADMIN

    @api(response=list[AttributeOut])
    async def get(self):
        """Every attribute with its values (and how many products have each)."""
        self.reply(await attrs.list_attributes())

    @api(body=AttributeIn, response=AttributeOut, status=201, rejects=REJECTS)
    async def post(self):
        """Create an attribute (a choice one with its values)."""
        self.reply(await attrs.create_attribute(self.parse(AttributeIn).model_dump()), 201)


class AttributeHandler(BaseHandler):
    role = ADMIN
    not_found_message = attrs.NOT_FOUND

    @api(response=AttributeOut)
    async def get(self, id: str):
        """One attribute with its values."""
        self.reply(await attrs.get_attribute(int(id)))

    @api(body=AttributePatch, response=AttributeOut, rejects=REJECTS)
    async def patch(self, id: str):
        """Rename it, change its unit, position or (explicitly) its slug; the kind stays."""
        changes = self.parse(AttributePatch).model_dump(exclude_unset=True)
        self.reply(await attrs.update_attribute(int(id), changes))

    @api(status=204)
    async def delete(self, id: str):
        """Delete it, its values and every product's assignment of it."""
        await attrs.delete_attribute(int(id))
        self.reply(status=204)


class AttributeValuesHandler(BaseHandler):
    role = ADMIN
    not_found_message = attrs.NOT_FOUND

    @api(body=ValueIn, response=AttributeOut, status=201, rejects=REJECTS)
    async def post(self, id: str):
        """Add a value to a choice attribute; answers the attribute."""
        self.reply(await attrs.add_value(int(id), self.parse(ValueIn).model_dump()), 201)


class AttributeValueHandler(BaseHandler):
    role = ADMIN
    not_found_message = attrs.VALUE_NOT_FOUND

    @api(body=ValuePatch, response=AttributeOut, rejects=REJECTS)
    async def patch(self, id: str):
        """Rename a value (its slug stays unless given) or move it; answers its attribute."""
        self.reply(await attrs.update_value(int(id), self.parse(ValuePatch).model_dump(exclude_unset=True)))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a value and its assignments to products."""
        await attrs.delete_value(int(id))
        self.reply(status=204)


routes = [
    Route("/api/attributes/", AttributeListHandler),
    Route("/api/attributes/{id:int}/", AttributeHandler),
    Route("/api/attributes/{id:int}/values/", AttributeValuesHandler),
    Route("/api/attribute-values/{id:int}/", AttributeValueHandler),
]
