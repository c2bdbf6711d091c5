"""The signed-in user's addresses."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Email, In, Out, Text
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.accounts import addresses


class AddressIn(In):
    full_name: Text = Field(max_length=255)
    email: Email
    phone_number: Text = Field(max_length=20)
    street_address: Text = Field(max_length=255)
    city: Text = Field(max_length=100)
    state: Text = Field(max_length=100)
    country: Text = Field(max_length=100)
    zip_code: Text = Field(max_length=20)
    is_default: bool = False


class AddressPatch(In):
    full_name: Text | None = Field(default=None, max_length=255)
    email: Email | None = None
    phone_number: Text | None = Field(default=None, max_length=20)
    street_address: Text | None = Field(default=None, max_length=255)
    city: Text | None = Field(default=None, max_length=100)
    state: Text | None = Field(default=None, max_length=100)
    country: Text | None = Field(default=None, max_length=100)
    zip_code: Text | None = Field(default=None, max_length=20)
    is_default: bool | None = None


class AddressOut(Out):
    id: int
    full_name: str
    email: str
    phone_number: str
    street_address: str
    city: str
    state: str
    country: str
    zip_code: str
    is_default: bool
    created_at: str
    updated_at: str


class AddressListHandler(BaseHandler):
    role = USER

    @api(response=list[AddressOut])
    async def get(self):
        """All of the user's addresses, the default first."""
        rows = await addresses.list_addresses(self.current_user)
        self.reply([addresses.address_payload(a) for a in rows])

    @api(body=AddressIn, response=AddressOut, status=201, rejects={400: "a phone number that is not valid"})
    async def post(self):
        """Add an address (the first one becomes the default)."""
        data = self.parse(AddressIn)
        address = await addresses.create_address(self.current_user, data.model_dump())
        self.reply(addresses.address_payload(address), 201)


class AddressHandler(BaseHandler):
    role = USER

    @api(response=AddressOut)
    async def get(self, id: str):
        """One address."""
        self.reply(addresses.address_payload(await addresses.load_address_for(self.current_user, int(id))))

    @api(body=AddressIn, response=AddressOut, rejects={400: "a phone number that is not valid"})
    async def put(self, id: str):
        """Replace an address."""
        data = self.parse(AddressIn)
        changes = data.model_dump(exclude_unset=True)
        self.reply(addresses.address_payload(await addresses.update_address(self.current_user, int(id), changes)))

    @api(body=AddressPatch, response=AddressOut, rejects={400: "a phone number that is not valid"})
    async def patch(self, id: str):
        """Change some fields of an address."""
        data = self.parse(AddressPatch)
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        self.reply(addresses.address_payload(await addresses.update_address(self.current_user, int(id), changes)))

    @api(status=204)
    async def delete(self, id: str):
        """Delete an address; the newest other one becomes the default."""
        await addresses.delete_address(self.current_user, int(id))
        self.reply(status=204)


class SetDefaultAddressHandler(BaseHandler):
    role = USER

    @api(response=AddressOut)
    async def post(self, id: str):
        """Make this address the default."""
        self.reply(addresses.address_payload(await addresses.set_default(self.current_user, int(id))))


routes = [
    Route("/api/addresses/", AddressListHandler),
    Route("/api/addresses/{id:int}/", AddressHandler),
    Route("/api/addresses/{id:int}/set_default/", SetDefaultAddressHandler),
]
