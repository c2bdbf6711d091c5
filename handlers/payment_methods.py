"""The signed-in customer's saved cards: list and delete (brand, last4 and
expiry only; paying with one: ``payment_method_id`` at checkout/payment/).
Rules in models/checkout/cards.py."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.checkout import cards
from models.core.db import iso


class SavedCardOut(Out):
    id: int
    payment_method_id: str = Field(description="Pass it as payment_method_id to POST /api/checkout/payment/")
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    created_at: str


class PaymentMethodListHandler(BaseHandler):
    role = USER

    @api(response=list[SavedCardOut])
    async def get(self):
        """The user's saved cards, newest first."""
        rows = await cards.list_cards(self.current_user.id)
        self.reply([{**r, "created_at": iso(r["created_at"])} for r in rows])


class PaymentMethodHandler(BaseHandler):
    role = USER

    @api(status=204, errors={404: "No saved card of yours with this id",
                             503: "the payment provider is not reachable: the card is kept; try again"})
    async def delete(self, id: str):
        """Delete a saved card (detached at the payment provider first)."""
        await cards.delete_card(self.current_user.id, int(id))
        self.reply(status=204)


routes = [
    Route("/api/payment-methods/", PaymentMethodListHandler),
    Route("/api/payment-methods/{id:int}/", PaymentMethodHandler),
]
