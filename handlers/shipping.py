"""Shipping methods: public list and detail; staff create, update, delete."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import Flag, In, Money, OptionalText, Out, Quantity, Text, partial
from handlers.core.openapi import api
from handlers.core.routing import Route
from models import shipping
from models.catalog.queries import is_staff


class ShippingMethodIn(In):
    name: Text = Field(max_length=100)
    price: Money
    estimated_days: Quantity = Field(le=365, description="Business days to deliver")
    description: OptionalText = Field(default="", max_length=2000)
    is_active: Flag = True


ShippingMethodPatch = partial(ShippingMethodIn, "ShippingMethodPatch")


class ShippingMethodOut(Out):
    id: int
    name: str
    price: str
    estimated_days: int
    description: str
    delivery_date: str = Field(description="Now plus estimated_days business days (UTC)")
    is_active: bool


class ShippingMethodListHandler(BaseHandler):
    roles = {"POST": ADMIN}

    @api(response=list[ShippingMethodOut])
    async def get(self):
        """Active shipping methods, cheapest first (staff see inactive ones too)."""
        methods = await shipping.list_shipping_methods(include_inactive=is_staff(self.current_user))
        self.reply([shipping.shipping_payload(m) for m in methods])

    @api(body=ShippingMethodIn, response=ShippingMethodOut, status=201)
    async def post(self):
        """Create a shipping method."""
        data = self.parse(ShippingMethodIn)
        self.reply(shipping.shipping_payload(await shipping.create_shipping_method(data.model_dump())), 201)


class ShippingMethodHandler(BaseHandler):
    roles = {"PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @api(response=ShippingMethodOut)
    async def get(self, id: str):
        """One shipping method."""
        method = await shipping.get_shipping_method(int(id), include_inactive=is_staff(self.current_user))
        self.reply(shipping.shipping_payload(method))

    @api(body=ShippingMethodIn, response=ShippingMethodOut)
    async def put(self, id: str):
        """Replace a shipping method's fields."""
        data = self.parse(ShippingMethodIn)
        self.reply(shipping.shipping_payload(await shipping.update_shipping_method(int(id), data.model_dump())))

    @api(body=ShippingMethodPatch, response=ShippingMethodOut)
    async def patch(self, id: str):
        """Change some fields of a shipping method."""
        data = self.parse(ShippingMethodPatch)
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(shipping.shipping_payload(await shipping.update_shipping_method(int(id), changes)))

    @api(status=204)
    async def delete(self, id: str):
        """Delete a shipping method (one that orders use is deactivated instead)."""
        await shipping.delete_shipping_method(int(id))
        self.reply(status=204)


routes = [
    Route("/api/shipping-methods/", ShippingMethodListHandler),
    Route("/api/shipping-methods/{id:int}/", ShippingMethodHandler),
]
