"""After the sale: shipments (staff ship some or all units of a paid order with
a carrier and tracking number; the order's status follows) and returns (a
customer asks, staff approve or reject, receive and refund through the
order's payment provider), their admin lists and CSV exports, and the carriers.

Business rules live in models/fulfilment/.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from handlers.core.base import ADMIN, PUBLIC, USER, BaseHandler
from handlers.core.fields import (
    QUERY_FLAG_DOC,
    Doc,
    Flag,
    In,
    IsoDate,
    MoneyText,
    OptionalFlag,
    OptionalMoney,
    OptionalText,
    Out,
    PageParam,
    PageSizeParam,
    PositiveQuantity,
    RequiredPk,
    Text,
)
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.exports import ExportStartedOut, export_csv
from handlers.orders import OrderShipmentOut, RefundOut
from models.core.errors import NotFound
from models.fulfilment import queries, returns, shipments
from models.fulfilment.carriers import CARRIERS, carrier_list

Carrier = Literal[tuple(CARRIERS)]  # type: ignore[valid-type]
ShipmentStatus = Literal[shipments.STATUSES]  # type: ignore[valid-type]
ReturnStatus = Literal[returns.STATUSES]  # type: ignore[valid-type]
Ordering = Literal[tuple(queries.ORDERINGS)]  # type: ignore[valid-type]


def _lower(value: Any) -> Any:
    """Choices in any case ("UPS"); blank means not given."""
    if isinstance(value, str):
        return value.strip().lower() or None
    return value


L = BeforeValidator(_lower)


URL = Annotated[str | None, Field(default=None, max_length=500, pattern=r"^https?://[^\s\x00]+$")]


# --- schemas -----------------------------------------------------------------------

class CarrierOut(Out):
    code: str
    name: str
    tracking_url_template: str | None = Field(description="{number} stands for the tracking number")


class LineIn(In):
    item_id: RequiredPk = Field(description="An item of the order (its `items[].id`)")
    quantity: PositiveQuantity


class ShipmentIn(In):
    lines: list[LineIn] | None = Field(default=None, max_length=100,
                                       description="Units to ship per item (default: every unit not shipped yet)")
    carrier: Annotated[Carrier, L] = Field(description="A carrier code of GET /api/carriers/")
    tracking_number: OptionalText = Field(default="", max_length=100)
    tracking_url: URL = Field(default=None, description="Overrides the carrier's tracking page")
    note: OptionalText = Field(default="", max_length=2000)
    status: Annotated[Literal["pending", "shipped"], L] = Field(default="shipped",
                                                                description="pending: packed, not handed over yet")


class ShipmentUpdateIn(In):
    carrier: Annotated[Carrier | None, L] = Field(default=None, description="A carrier code of GET /api/carriers/")
    tracking_number: OptionalText = Field(default="", max_length=100,
                                          description="A new carrier or number rebuilds tracking_url")
    tracking_url: URL = Field(default=None, description="Overrides the carrier's tracking page (null: the carrier's)")
    note: OptionalText = Field(default="", max_length=2000)

    def changes(self) -> dict[str, Any]:
        """Only what the body names (a field left out keeps its value)."""
        return {k: getattr(self, k) for k in self.model_fields_set if k != "carrier" or self.carrier}


class ShipmentCancelIn(In):
    reason: OptionalText = Field(default="", max_length=1000,
                                 description="Kept on the shipment as cancel_reason (the customer sees it too)")


class ShipmentStatusIn(In):
    status: Annotated[Literal["shipped", "delivered"], L]
    location: OptionalText = Field(default="", max_length=255)
    description: OptionalText = Field(default="", max_length=2000)


class ShipmentRowOut(OrderShipmentOut):
    order_number: str
    customer_email: str
    order_status: str


class ListQuery(In):
    status: Annotated[str | None, L] = None
    order_id: Annotated[int | None, BeforeValidator(lambda v: None if v == "" else v)] = Field(
        default=None, ge=1, le=2**31 - 1)
    search: Annotated[str | None, BeforeValidator(lambda v: (v.strip() or None) if isinstance(v, str) else v)] = \
        Field(default=None, max_length=200, description="Order number or customer email (shipments: a tracking number)")
    start_date: IsoDate = Field(default=None, description="Created on or after (YYYY-MM-DD)")
    end_date: IsoDate = Field(default=None, description="Created on or before (YYYY-MM-DD)")
    ordering: Annotated[Ordering | None, BeforeValidator(lambda v: v or None)] = Field(
        default=None, description="Default -created_at")
    page: PageParam = None
    page_size: PageSizeParam = Field(default=None, description="Items per page (default 12, max 100)")

    def filters(self, **extra: Any) -> queries.ListFilters:
        return queries.ListFilters(status=self.status, order_id=self.order_id, search=self.search,
                                   start=self.start_date, end=self.end_date,
                                   ordering=self.ordering or queries.DEFAULT_ORDERING, **extra)


class ShipmentListQuery(ListQuery):
    status: Annotated[ShipmentStatus | None, L] = None
    carrier: Annotated[Carrier | None, L] = None


class ReturnListQuery(ListQuery):
    status: Annotated[ReturnStatus | None, L] = None


class ShipmentExportQuery(In):
    status: Annotated[ShipmentStatus | None, L] = None
    carrier: Annotated[Carrier | None, L] = None
    order_id: Annotated[int | None, BeforeValidator(lambda v: None if v == "" else v)] = Field(
        default=None, ge=1, le=2**31 - 1)
    search: str | None = Field(default=None, max_length=200)
    start_date: IsoDate = None
    end_date: IsoDate = None
    async_: Annotated[str | None, Doc(QUERY_FLAG_DOC)] = Field(
        default=None, alias="async", description="1: build the file in the background")


class ReturnExportQuery(In):
    status: Annotated[ReturnStatus | None, L] = None
    order_id: Annotated[int | None, BeforeValidator(lambda v: None if v == "" else v)] = Field(
        default=None, ge=1, le=2**31 - 1)
    search: str | None = Field(default=None, max_length=200)
    start_date: IsoDate = None
    end_date: IsoDate = None
    async_: Annotated[str | None, Doc(QUERY_FLAG_DOC)] = Field(
        default=None, alias="async", description="1: build the file in the background")


class ShipmentPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[ShipmentRowOut]


class ReturnIn(In):
    lines: list[LineIn] = Field(min_length=1, max_length=100, description="Units to send back per item")
    reason: Text = Field(max_length=2000)


class ReturnStepIn(In):
    note: OptionalText = Field(default="", max_length=2000, description="For the customer (shown in the email)")


class RefundLineIn(LineIn):
    restock: OptionalFlag = Field(default=None, description="Give this line's units back to stock (default: restock)")


class ReturnRefundIn(In):
    lines: list[RefundLineIn] | None = Field(default=None, max_length=100,
                                             description="Units to refund (default: every unit of the return)")
    restock: Flag = Field(default=True, description="Give the refunded units back to stock (per line: lines[].restock)")
    restocking_fee: OptionalMoney = Field(default=None, description="Kept from the refund (less than the lines' cost)")
    reason: OptionalText = Field(default="", max_length=1000)


class ReturnLineOut(Out):
    item_id: int
    product_name: str
    quantity: int
    unit_price: MoneyText


class ReturnOut(Out):
    id: int
    order_id: int
    order_number: str
    user_id: int | None
    customer_email: str
    status: ReturnStatus = Field(description="requested, approved, rejected, received, refunded")
    reason: str
    staff_note: str
    lines: list[ReturnLineOut]
    refund_id: int | None
    refund_amount: MoneyText | None
    restocking_fee: MoneyText
    created_at: str
    decided_at: str | None = Field(description="When it was approved or rejected")
    received_at: str | None
    refunded_at: str | None


class ReturnRefundedOut(ReturnOut):
    refund: RefundOut


class ReturnPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[ReturnOut]


# --- handlers ----------------------------------------------------------------------

SHIP_REJECTS = {400: "an order that is not paid, or is cancelled, returned or refunded; items not of the order or "
                     "more units than a line holds",
                409: "units that are in another shipment already (e.g. a colleague shipped them a moment ago), "
                     "or nothing left to ship"}
STEP_REJECTS = {400: "a step the return's status does not allow (requested → approved | rejected; approved → "
                     "received | rejected)"}


class CarrierListHandler(BaseHandler):
    role = PUBLIC

    @api(response=list[CarrierOut])
    async def get(self):
        """The carriers a shipment may name, with their tracking page address."""
        self.reply(carrier_list())


class OrderShipmentsHandler(BaseHandler):
    roles = {"GET": USER, "POST": ADMIN}

    @api(response=list[ShipmentRowOut])
    async def get(self, id: str):
        """An order's shipments, oldest first (a customer's own order only)."""
        user = self.current_user
        self.reply(await shipments.order_shipments(int(id), None if user.is_staff else user.id))

    @api(body=ShipmentIn, response=ShipmentRowOut, status=201, rejects=SHIP_REJECTS)
    async def post(self, id: str):
        """Ship some or all units of a paid order (a split delivery: several shipments).

        The order's status follows from its shipments: PARTIALLY_SHIPPED, SHIPPED once every unit
        shipped, DELIVERED once every unit arrived. The customer is emailed when a shipment ships."""
        data = self.parse(ShipmentIn)
        lines = [{"item_id": l.item_id, "quantity": l.quantity} for l in data.lines] if data.lines else None
        self.reply(await shipments.create_shipment(
            int(id), lines=lines, carrier=data.carrier, tracking_number=data.tracking_number,
            given_url=data.tracking_url, note=data.note, status=data.status, actor_id=self.current_user.id), 201)


def _page(handler: BaseHandler, count: int, results: Any, page: int, size: int) -> None:
    if page > max(1, math.ceil(count / size)):
        raise NotFound("Invalid page.")
    handler.reply(handler.page_envelope(page, size, count, results))


class ShipmentListHandler(BaseHandler):
    role = ADMIN

    @api(query=ShipmentListQuery, response=ShipmentPageOut)
    async def get(self):
        """All shipments, newest first (filters: status, carrier, order, dates, search; pages)."""
        q = self.query(ShipmentListQuery)
        page, size = self.page_params()
        count, results = await queries.shipment_page(q.filters(carrier=q.carrier), page, size)
        _page(self, count, results, page, size)


CORRECT_REJECTS = {400: "a delivered shipment (its items come back through a return)",
                   409: "a shipment cancelled already (e.g. by a colleague a moment ago)"}


class ShipmentHandler(BaseHandler):
    roles = {"GET": USER, "PATCH": ADMIN}

    @api(response=ShipmentRowOut)
    async def get(self, id: str):
        """One shipment (a customer's own order's only)."""
        user = self.current_user
        self.reply(await shipments.shipment_payload(int(id), None if user.is_staff else user.id))

    @api(body=ShipmentUpdateIn, response=ShipmentRowOut,
         rejects={400: CORRECT_REJECTS[400] + ", an unknown carrier", 409: CORRECT_REJECTS[409]})
    async def patch(self, id: str):
        """Correct a shipment not delivered yet: carrier, tracking number (tracking_url rebuilt), note.

        A tracking event records the correction; the customer is emailed the new details only
        when the shipment had shipped (they had the old ones)."""
        data = self.parse(ShipmentUpdateIn)
        self.reply(await shipments.update_shipment(int(id), data.changes()))


class ShipmentCancelHandler(BaseHandler):
    role = ADMIN

    @api(body=ShipmentCancelIn, response=ShipmentRowOut, rejects=CORRECT_REJECTS)
    async def post(self, id: str):
        """Cancel a shipment not delivered yet: its units may ship again, the order steps back.

        SHIPPED → PARTIALLY_SHIPPED or PROCESSING as the other shipments say. The customer is
        emailed only when the shipment had shipped; stock does not move (the order holds it)."""
        data = self.parse(ShipmentCancelIn)
        self.reply(await shipments.cancel_shipment(int(id), data.reason))


class ShipmentStatusHandler(BaseHandler):
    role = ADMIN

    @api(body=ShipmentStatusIn, response=ShipmentRowOut,
         rejects={400: "a step back (delivered → shipped), or a cancelled shipment"})
    async def post(self, id: str):
        """Mark a shipment shipped or delivered (a tracking event; the customer is emailed; the order follows)."""
        data = self.parse(ShipmentStatusIn)
        self.reply(await shipments.set_shipment_status(int(id), data.status, location=data.location,
                                                       description=data.description))


class ShipmentExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ShipmentExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """Shipments as CSV with the list's filters (streamed; ?async=1 builds a file)."""
        self.query(ShipmentExportQuery)
        await export_csv(self, "shipments")


class OrderReturnsHandler(BaseHandler):
    role = USER

    @api(body=ReturnIn, response=ReturnOut, status=201,
         rejects={400: "an order not delivered yet or delivered more than RETURN_WINDOW_DAYS ago, items not "
                       "delivered, or more units than were delivered and not returned yet"})
    async def post(self, id: str):
        """Ask to return some units of a delivered order (one's own; staff for any customer), with a reason."""
        data = self.parse(ReturnIn)
        user = self.current_user
        lines = [{"item_id": l.item_id, "quantity": l.quantity} for l in data.lines]
        self.reply(await returns.request_return(int(id), None if user.is_staff else user.id, lines, data.reason), 201)


class ReturnListHandler(BaseHandler):
    role = USER

    @api(query=ReturnListQuery, response=ReturnPageOut)
    async def get(self):
        """Returns, newest first: a customer's own, or all for staff (filters, search, pages)."""
        q = self.query(ReturnListQuery)
        user = self.current_user
        page, size = self.page_params()
        count, results = await queries.return_page(q.filters(user_id=None if user.is_staff else user.id), page, size)
        _page(self, count, results, page, size)


class ReturnHandler(BaseHandler):
    role = USER

    @api(response=ReturnOut)
    async def get(self, id: str):
        """One return (a customer's own only)."""
        user = self.current_user
        self.reply(await returns.return_payload(int(id), None if user.is_staff else user.id))


class ReturnApproveHandler(BaseHandler):
    role = ADMIN

    @api(body=ReturnStepIn, response=ReturnOut, rejects=STEP_REJECTS)
    async def post(self, id: str):
        """Approve a requested return (the customer is emailed)."""
        self.reply(await returns.move_return(int(id), "approved", self.parse(ReturnStepIn).note))


class ReturnRejectHandler(BaseHandler):
    role = ADMIN

    @api(body=ReturnStepIn, response=ReturnOut, rejects=STEP_REJECTS)
    async def post(self, id: str):
        """Reject a return not received yet (the customer is emailed)."""
        self.reply(await returns.move_return(int(id), "rejected", self.parse(ReturnStepIn).note))


class ReturnReceiveHandler(BaseHandler):
    role = ADMIN

    @api(body=ReturnStepIn, response=ReturnOut, rejects=STEP_REJECTS)
    async def post(self, id: str):
        """Mark an approved return's items received (the customer is emailed)."""
        self.reply(await returns.move_return(int(id), "received", self.parse(ReturnStepIn).note))


class ReturnRefundHandler(BaseHandler):
    role = ADMIN

    @api(body=ReturnRefundIn, response=ReturnRefundedOut,
         rejects={400: "a return not received yet, lines not of the return, a restocking fee not less than the "
                       "lines' cost, or an order whose payment cannot be refunded",
                  409: "the return was refunded already, or its refund is in progress",
                  502: "the payment provider did not refund: the return stays received; ask again"})
    async def post(self, id: str):
        """Refund a received return through the order's payment provider (all or some units).

        Each line is restocked or not (restock, lines[].restock; a unit goes back once), less an
        optional restocking fee; never more than was captured less refunds. The customer is emailed."""
        data = self.parse(ReturnRefundIn)
        lines = ([{"item_id": l.item_id, "quantity": l.quantity, "restock": l.restock} for l in data.lines]
                 if data.lines else None)
        self.reply(await returns.refund_return(int(id), lines=lines, restock=data.restock,
                                               restocking_fee=data.restocking_fee, reason=data.reason,
                                               actor_id=self.current_user.id))


class ReturnExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ReturnExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """Returns as CSV with the list's filters (streamed; ?async=1 builds a file)."""
        self.query(ReturnExportQuery)
        await export_csv(self, "returns")


routes = [
    Route("/api/carriers/", CarrierListHandler),
    Route("/api/orders/{id:int}/shipments/", OrderShipmentsHandler),
    Route("/api/orders/{id:int}/returns/", OrderReturnsHandler),
    Route("/api/shipments/", ShipmentListHandler),
    Route("/api/shipments/export/", ShipmentExportHandler),
    Route("/api/shipments/{id:int}/", ShipmentHandler),
    Route("/api/shipments/{id:int}/status/", ShipmentStatusHandler),
    Route("/api/shipments/{id:int}/cancel/", ShipmentCancelHandler),
    Route("/api/returns/", ReturnListHandler),
    Route("/api/returns/export/", ReturnExportHandler),
    Route("/api/returns/{id:int}/", ReturnHandler),
    Route("/api/returns/{id:int}/approve/", ReturnApproveHandler),
    Route("/api/returns/{id:int}/reject/", ReturnRejectHandler),
    Route("/api/returns/{id:int}/receive/", ReturnReceiveHandler),
    Route("/api/returns/{id:int}/refund/", ReturnRefundHandler),
]
