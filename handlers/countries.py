"""Countries and states for the address and customer forms (public, cached per process)."""
from __future__ import annotations

from handlers.core.base import BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.customers import countries


class CountryOut(Out):
    code: str
    code3: str
    name: str
    phone_code: str


class StateOut(Out):
    code: str
    name: str
    type: str


class CountryListHandler(BaseHandler):
    @api(response=list[CountryOut])
    async def get(self):
        """Every country (ISO 3166-1), sorted by name."""
        self.set_header("Cache-Control", "public, max-age=86400")
        self.reply(countries.countries())


class StateListHandler(BaseHandler):
    @api(response=list[StateOut])
    async def get(self, code: str):
        """The states/provinces of a country (ISO 3166-2); unknown country → 404."""
        rows = countries.states(code)
        self.set_header("Cache-Control", "public, max-age=86400")
        self.reply(rows)


routes = [
    Route("/api/countries/", CountryListHandler),
    Route("/api/countries/{code}/states/", StateListHandler),
]
