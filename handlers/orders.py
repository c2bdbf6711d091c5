"""Order endpoints: the customer's own orders and the admin's order
management (list, detail, create modal, edit, delete, status, tracking,
filter-by-date, export, bulk actions, the order form's customers and choices).

Business rules live in models/orders/; payloads are built by PostgreSQL
(models/orders/queries.py) and sent as they are.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, create_model, model_validator

from handlers.cart import DiscountLineOut
from handlers.core.base import ADMIN, USER, BaseHandler
from handlers.core.fields import (
    QUERY_FLAG_DOC,
    Doc,
    Flag,
    In,
    IsoDate,
    IsoTime,
    MoneyText,
    OptionalFlag,
    OptionalMoney,
    OptionalText,
    OrNull,
    Out,
    PageParam,
    PageSizeParam,
    Pk,
    PkList,
    PositiveQuantity,
    QueryFlag,
    RequiredPk,
)
from handlers.core.idempotency import idempotent
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.exports import ExportStartedOut, export_csv
from models.catalog.tables import MAX_LINE_QUANTITY
from models.checkout import payment as paying
from models.core.errors import AppError, NotFound, ValidationFailed
from models.fulfilment import shipments
from models.orders import actions, queries
from models.orders.tables import (
    ORDER_TYPES,
    PAYMENT_STATUS_DISPLAY,
    PAYMENT_STATUSES,
    PAYMENT_TYPES,
    STATUS_DISPLAY,
    STATUSES,
)

# The choices come from models/orders/tables.py (the one list).
Status = Literal[STATUSES]  # type: ignore[valid-type]
PaymentStatus = Literal[PAYMENT_STATUSES]  # type: ignore[valid-type]
PaymentType = Literal[tuple(PAYMENT_TYPES)]  # type: ignore[valid-type]
OrderType = Literal[tuple(ORDER_TYPES)]  # type: ignore[valid-type]
Ordering = Literal["created_at", "-created_at", "total", "-total", "order_number", "-order_number"]


def _upper(value: Any) -> Any:
    """Choices are accepted in any case ("shipped"); blank means not given."""
    if isinstance(value, str):
        value = value.strip()
        return value.upper() or None
    return value


def _blank(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


U = BeforeValidator(_upper)
B = BeforeValidator(_blank)




# --- schemas -----------------------------------------------------------------------

class OrderListQuery(In):
    status: Annotated[Status | None, U] = Field(default=None, description="Order status")
    payment_status: Annotated[PaymentStatus | None, U] = None
    start_date: Annotated[IsoDate | None, B] = Field(default=None, description="Created on or after (YYYY-MM-DD)")
    end_date: Annotated[IsoDate | None, B] = Field(default=None, description="Created on or before (YYYY-MM-DD)")
    created_at_after: Annotated[IsoDate | None, B] = Field(default=None, description="Same as start_date")
    created_at_before: Annotated[IsoDate | None, B] = Field(default=None, description="Same as end_date")
    search: Annotated[str | None, B] = Field(default=None, max_length=200,
                                             description="Order number, customer email or name")
    ordering: Annotated[Ordering | None, B] = Field(default=None, description="Default -created_at")
    user_id: Annotated[int | None, B] = Field(default=None, ge=1, le=2**31 - 1, description="Admin only")
    customer_id: Annotated[int | None, B] = Field(default=None, ge=1, le=2**31 - 1, description="Admin only")
    delivery_issue: Annotated[QueryFlag, B] = Field(default=None, description=(
        "true: only orders whose delivery date is to be arranged (delivery_issue set: revived by a late payment "
        "when its day was full); false: only the others"))
    page: PageParam = None
    page_size: PageSizeParam = Field(default=None, description="Items per page (default 12, max 100)")

    def filters(self, user: Any) -> queries.OrderFilters:
        staff = bool(user.is_staff)
        return queries.OrderFilters(
            status=self.status, payment_status=self.payment_status,
            start=self.start_date or self.created_at_after, end=self.end_date or self.created_at_before,
            search=(self.search or "").strip() or None, ordering=self.ordering or queries.DEFAULT_ORDERING,
            user_id=self.user_id if staff else user.id, customer_id=self.customer_id if staff else None,
            delivery_issue=self.delivery_issue)


class ItemIn(In):
    product_id: RequiredPk
    variation_id: Pk = Field(default=None, description="Required for a product with variations")
    quantity: PositiveQuantity = Field(json_schema_extra={"maximum": MAX_LINE_QUANTITY})
    price: OptionalMoney = Field(default=None, description="Unit price (admin orders only)")
    variants: dict[str, Any] = Field(default_factory=dict)


class ShippingIn(In):
    """Where an order goes: the fields an order and a checkout share."""

    shipping_address: OptionalText = Field(default="", max_length=1000)
    shipping_city: OptionalText = Field(default="", max_length=100)
    shipping_state: OptionalText = Field(default="", max_length=100)
    shipping_country: OptionalText = Field(default="", max_length=100)
    shipping_zip: OptionalText = Field(default="", max_length=20)
    billing_address: OptionalText = Field(default="", max_length=1000)


class OrderIn(ShippingIn):
    """A shopper's order (``items`` absent: from the cart); the admin modal adds
    customer_id, item prices, status, payment_status, order_date and order_time."""

    items: list[ItemIn] | None = Field(default=None, max_length=100)
    customer_id: Pk = Field(default=None, description="Admin only")
    status: Annotated[Status | None, U] = Field(default=None, description="Admin only")
    payment_status: Annotated[PaymentStatus | None, U] = Field(default=None, description="Admin only")
    order_date: Annotated[IsoDate | None, B] = Field(default=None, description="Admin only")
    order_time: IsoTime = Field(default=None, description="Admin only")
    payment_type: Annotated[PaymentType | None, U] = None
    order_type: Annotated[OrderType | None, U] = None
    payment_method: OptionalText = Field(default="", max_length=50)
    note: OptionalText = Field(default="", max_length=5000)
    shipping_method_id: Pk = None
    promo_code: OptionalText = Field(default="", max_length=50)
    delivery_date: Annotated[IsoDate, OrNull()] = Field(default=None, description=(
        "Bulky goods to an address whose zone schedules deliveries: the day chosen among GET /api/shipping/slots/ "
        "(required then, refused otherwise), booked with the order as checkout does"))

    @model_validator(mode="after")
    def _items_not_empty(self) -> "OrderIn":
        if self.items is not None and not self.items:
            raise ValueError(actions.NO_ITEMS)
        return self

    def lines(self) -> list[actions.LineIn] | None:
        if self.items is None:
            return None
        return [actions.LineIn(i.product_id, i.quantity, i.variation_id, i.price, i.variants) for i in self.items]


class OrderUpdateIn(In):
    status: Annotated[Status | None, U] = None
    payment_status: Annotated[PaymentStatus | None, U] = None
    payment_type: Annotated[PaymentType | None, U] = None
    order_type: Annotated[OrderType | None, U] = None
    payment_method: str | None = Field(default=None, max_length=50)
    note: str | None = Field(default=None, max_length=5000)
    shipping_address: str | None = Field(default=None, max_length=1000)
    shipping_city: str | None = Field(default=None, max_length=100)
    shipping_state: str | None = Field(default=None, max_length=100)
    shipping_country: str | None = Field(default=None, max_length=100)
    shipping_zip: str | None = Field(default=None, max_length=20)
    billing_address: str | None = Field(default=None, max_length=1000)
    delivery_date: Annotated[IsoDate, OrNull()] = Field(default=None, description=(
        "Move the order's scheduled delivery to this day (booked in its zone, the old day given back, "
        "delivery_issue cleared): how staff settle a delivery date to arrange"))


class StatusIn(In):
    status: Annotated[Status, U]


class TrackingIn(In):
    status: Annotated[Status, U]
    location: OptionalText = Field(default="", max_length=255)
    description: OptionalText = Field(default="", max_length=2000)
    shipment_id: Pk = Field(default=None, description="The order's shipment this event is about (none: the order)")


class RefundLineIn(In):
    item_id: RequiredPk = Field(description="An item of this order (its `items[].id`)")
    quantity: PositiveQuantity
    restock: OptionalFlag = Field(default=None, description="These units never shipped: back to stock, no longer to "
                                                            "ship (default: the body's restock). Units that shipped "
                                                            "come back through a return.")


class RefundIn(In):
    restock: Flag = Field(default=False, description="Give the refunded lines' stock back (all lines without `lines`: "
                                                     "only while no unit is in a shipment)")
    amount: OptionalMoney = Field(default=None, description="How much to refund (default: the lines' cost, "
                                                            "else everything not refunded yet)")
    lines: list[RefundLineIn] | None = Field(default=None, max_length=100,
                                             description="Refund these items (their cost, the order's discount "
                                                         "shared out)")
    reason: OptionalText = Field(default="", max_length=1000)


class RefundOut(Out):
    id: int
    payment_status: str = Field(description="PARTIALLY_REFUNDED or REFUNDED")
    restocked: bool
    refund_id: int
    amount: str = Field(description="Refunded by this request")
    refunded_amount: str = Field(description="Refunded on this order in all")
    status: str = Field(description="The order's status: REFUNDED once fully refunded (unless cancelled or returned)")
    provider_reference: str | None = Field(description="The provider's refund id (null for manual payments)")


class BulkIn(In):
    order_ids: PkList = Field(default_factory=list, max_length=1000)
    action: Annotated[Literal["update_status", "delete"] | None, B] = None
    status: Annotated[Status | None, U] = None


class DateQuery(In):
    start_date: Annotated[IsoDate | None, B] = None
    end_date: Annotated[IsoDate | None, B] = None
    status: Annotated[Status | None, U] = None


class CustomersQuery(In):
    search: Annotated[str | None, B] = Field(default=None, max_length=100)


class ExportQuery(In):
    status: Annotated[Status | None, U] = None
    start_date: Annotated[IsoDate | None, B] = None
    end_date: Annotated[IsoDate | None, B] = None
    created_at_after: Annotated[IsoDate | None, B] = None
    created_at_before: Annotated[IsoDate | None, B] = None
    search: Annotated[str | None, B] = Field(default=None, max_length=200)
    user_id: Annotated[int | None, B] = Field(default=None, ge=1, le=2**31 - 1)
    customer_id: Annotated[int | None, B] = Field(default=None, ge=1, le=2**31 - 1)
    async_: Annotated[str | None, Doc(QUERY_FLAG_DOC)] = Field(
        default=None, alias="async", description="1: build the file in the background")


# --- response schemas (documentation) ---------------------------------------------

class OrderItemOut(Out):
    id: int
    product: int | None
    product_name: str
    product_sku: str
    variation_id: int | None
    quantity: int
    unit_price: MoneyText
    total_price: MoneyText
    variants: dict[str, Any]
    product_image: str | None
    expected_ship_date: str | None = Field(default=None, description=(
        "When the line is expected to ship (YYYY-MM-DD): the order date from stock, the restock date for "
        "backorders, the order date plus the lead time for made-to-order; null when unknown"))


class PaymentOut(Out):
    id: int
    method: str
    provider: str
    amount: MoneyText
    status: str
    transaction_id: str | None
    created_at: str


class ShipmentLineOut(Out):
    item_id: int
    product_name: str
    quantity: int


class OrderShipmentOut(Out):
    id: int
    order_id: int
    status: str = Field(description="pending (packed), shipped, delivered, cancelled (its units may ship again)")
    carrier: str = Field(description="A code of GET /api/carriers/")
    tracking_number: str | None
    tracking_url: str | None = Field(description="The carrier's tracking page, or the address staff gave")
    note: str
    lines: list[ShipmentLineOut]
    created_at: str
    shipped_at: str | None
    delivered_at: str | None
    cancelled_at: str | None
    cancel_reason: str = Field(description="Why staff cancelled it (empty unless cancelled; shown to the customer)")


class OrderOut(Out):
    id: int
    order_number: str
    customer_email: str
    customer_name: str
    user_id: int | None
    customer_id: int | None
    items: list[OrderItemOut]
    products_display_string: str
    subtotal: MoneyText
    discount: MoneyText
    shipping_cost: MoneyText
    tax: MoneyText
    total: MoneyText
    status: str
    status_display: str
    payment_status: str
    payment: PaymentOut | None
    payments: list[PaymentOut]
    payment_method: str
    payment_type: str
    order_type: str
    shipping_address: str
    shipping_city: str
    shipping_state: str
    shipping_country: str
    shipping_zip: str
    billing_address: str
    shipping_method_id: int | None
    delivery_date: str | None = Field(default=None, description="The delivery date booked for bulky items (YYYY-MM-DD)")
    slot_held: bool = Field(default=False, description="Whether delivery_date holds a delivery of its day (false once "
                                                       "given back, or when it could not be booked again)")
    delivery_issue: str | None = Field(default=None, description=(
        "Why the delivery date is not held, for staff: a late payment revived the order when its day was full "
        "(or past); null when there is nothing to arrange"))
    discount_lines: list[DiscountLineOut] = Field(default=[], description=(
        "The promotion that priced the order (code or automatic, what it took off), kept as it was at placement; "
        "[] without one"))
    estimated_delivery_date: str = Field(description="For display, as the spec shows it (Monday, January 02, 2023)")
    estimated_delivery_on: str = Field(description="The same date, ISO 8601 (2023-01-02)")
    shipments: list[OrderShipmentOut] = Field(description="Its shipments, oldest first (a split delivery has several)")
    note: str
    created_at: str
    updated_at: str
    order_date: str
    order_time: str


class OrderPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[OrderOut]


class OrderCreatedOut(Out):
    status: str
    message: str
    order_id: int
    order_number: str
    total: MoneyText


class StatusOut(Out):
    id: int
    status: str
    updated_at: str


class TrackingOut(Out):
    id: int
    status: str
    location: str
    description: str
    timestamp: str
    shipment_id: int | None = Field(description="The shipment the event is about (null: the whole order)")
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None


class OrderBriefOut(Out):
    id: int
    order_number: str
    customer_email: str
    customer_name: str
    total: MoneyText
    status: str
    created_at: str


class BulkOut(Out):
    status: str
    processed: int
    skipped: list[int]


class CountOut(Out):
    count: int
    total_value: float
    avg_order_value: float


# The filter tabs: all orders, then one entry per status (models/orders/tables.py).
StatusCountsOut = create_model("StatusCountsOut", __base__=Out, all=(CountOut, ...),
                               **{s.lower(): (CountOut, ...) for s in STATUSES})


class CustomerChoiceOut(Out):
    id: int
    name: str
    email: str
    phone: str
    display_name: str


class ChoicesOut(Out):
    payment_types: list[list[str]]
    order_types: list[list[str]]
    status_choices: list[list[str]]
    payment_status_choices: list[list[str]]


# --- handlers ----------------------------------------------------------------------

STATUS_REJECTS = ("a status or payment status change that is not a legal transition from the order's current one, "
                  "or a refund status (set by POST /api/orders/{id}/refund/ only)")
EDIT_REJECTS = {400: STATUS_REJECTS + "; a delivery_date for an order without a scheduled delivery, one that no "
                                      "longer holds its goods, or a day not after today",
                409: "the new delivery_date is fully booked in the order's zone (raise its capacity first)"}
ORDER_REJECTS = ("an order with no items, items unknown or out of stock, a product with variations but none "
                 "chosen, amounts beyond 9999999999.99, an address that cannot be used, a delivery_date missing "
                 "(bulky goods to a zone that schedules deliveries), outside the window, fully booked or not "
                 "wanted, or a customer who already has MAX_OPEN_UNPAID_ORDERS unpaid orders")
ORDER_CONFLICTS = "the delivery date filled up while the order was being placed (pick another)"

async def _create(handler: BaseHandler) -> None:
    data = handler.parse(OrderIn)
    user = handler.current_user
    fields = data.model_dump(exclude={"items"})

    async def run() -> tuple[int, Any]:
        if user.is_staff:
            if data.items is None:
                raise ValidationFailed(errors={"items": ["This field is required."]})
            order_id = await actions.place_admin_order(user, data.lines(), fields)
            return 201, await queries.order_payload(order_id)
        order_id, number, total = await actions.place_customer_order(user, data.lines(), fields)
        return 201, {"status": "success", "message": "Order created successfully", "order_id": order_id,
                     "order_number": number, "total": total}

    await idempotent(handler, "orders.create", run, atomic=True)


class OrderListHandler(BaseHandler):
    role = USER
    default_page_size = 12

    @api(query=OrderListQuery, response=OrderPageOut)
    async def get(self):
        """Orders: a customer's own, or all for an admin (filters, search, ordering, pages)."""
        q = self.query(OrderListQuery)
        page, size = self.page_params()
        count, results = await queries.order_page(q.filters(self.current_user), page, size)
        if page > max(1, math.ceil(count / size)):
            raise NotFound("Invalid page.")
        self.reply(self.page_envelope(page, size, count, results))

    @api(body=OrderIn, response=OrderCreatedOut | OrderOut, status=201, idempotent=True,
         rejects={400: ORDER_REJECTS, 409: ORDER_CONFLICTS})
    async def post(self):
        """Place an order from items (or the cart); admins: the Create Order modal (full order back).

        A customer gets the short answer (OrderCreatedOut), a staff user the whole order (OrderOut)."""
        await _create(self)


class OrderCreateHandler(BaseHandler):
    role = USER

    @api(body=OrderIn, response=OrderCreatedOut | OrderOut, status=201, idempotent=True,
         rejects={400: ORDER_REJECTS, 409: ORDER_CONFLICTS})
    async def post(self):
        """Alias of POST /api/orders/."""
        await _create(self)


class OrderHandler(BaseHandler):
    roles = {"GET": USER, "PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @api(response=OrderOut)
    async def get(self, id: str):
        """One order with items, payments and estimated delivery (a customer's own only)."""
        user = self.current_user
        self.reply(await queries.order_payload(int(id), None if user.is_staff else user.id))

    @api(body=OrderUpdateIn, response=OrderOut, rejects=EDIT_REJECTS)
    async def put(self, id: str):
        """Edit an order (status and payment status through legal transitions only)."""
        data = self.parse(OrderUpdateIn)
        await actions.update_order(int(id), data.model_dump(exclude_none=True))
        self.reply(await queries.order_payload(int(id)))

    @api(body=OrderUpdateIn, response=OrderOut, rejects=EDIT_REJECTS)
    async def patch(self, id: str):
        """Edit some fields of an order."""
        await self.put(id)

    @api(status=204)
    async def delete(self, id: str):
        """Delete an order (stock it holds goes back)."""
        await actions.delete_order(int(id))
        self.reply(status=204)


class UpdateStatusHandler(BaseHandler):
    role = ADMIN

    @api(body=StatusIn, response=StatusOut,
         rejects={400: STATUS_REJECTS})
    async def patch(self, id: str):
        """Change an order's status (legal transitions only; cancelling returns stock)."""
        data = self.parse(StatusIn)
        self.reply(await actions.update_status(int(id), data.status))

    @api(body=StatusIn, response=StatusOut,
         rejects={400: STATUS_REJECTS})
    async def post(self, id: str):
        """Same as PATCH."""
        await self.patch(id)


class CancelHandler(BaseHandler):
    role = USER

    @api(response=StatusOut, rejects={400: "an order that is paid or already processed (only unpaid orders)"})
    async def post(self, id: str):
        """Cancel one's own unpaid order: its items and promo code use are released.

        A card payment still awaiting 3-D Secure is cancelled at the provider too (nothing can be charged later).
        """
        user = self.current_user
        self.reply(await paying.cancel_by_shopper(int(id), None if user.is_staff else user.id))


class RefundHandler(BaseHandler):
    role = ADMIN

    @api(body=RefundIn, response=RefundOut,
         rejects={400: "an order that is not paid, an amount beyond what was captured less what was refunded, "
                       "lines that are not the order's or were refunded already, or a restock of units that "
                       "shipped (lines[].restock; restock without lines once any unit is in a shipment)",
                  409: "another refund of this order is in progress and both together would exceed it",
                  502: "the payment provider did not refund: nothing changed but the failed attempt's record; "
                       "ask again"})
    async def post(self, id: str):
        """Refund a paid order through its payment provider, fully or partly.

        Each attempt is recorded; the order's payment status becomes PARTIALLY_REFUNDED or
        REFUNDED only on the provider's OK, and a fully refunded order's status REFUNDED.
        restock=true gives the refunded lines' stock back (once); a line's own restock says whether
        its units never shipped (back to stock, no longer to ship) — units that shipped come back
        through a return.
        """
        data = self.parse(RefundIn)
        lines = ([{"item_id": l.item_id, "quantity": l.quantity, "restock": l.restock} for l in data.lines]
                 if data.lines else None)
        self.reply(await shipments.refund_outside_return(int(id), amount=data.amount, lines=lines,
                                                         restock=data.restock, reason=data.reason,
                                                         actor_id=self.current_user.id))


class TrackingHandler(BaseHandler):
    role = USER

    @api(response=list[TrackingOut])
    async def get(self, id: str):
        """The order's tracking events, oldest first."""
        user = self.current_user
        self.reply(await queries.tracking_events(int(id), None if user.is_staff else user.id))


class TrackingAddHandler(BaseHandler):
    role = ADMIN

    @api(body=TrackingIn, response=TrackingOut, rejects={400: "a shipment_id that is not one of the order's"})
    async def post(self, id: str):
        """Add a tracking event, of the order or of one of its shipments (the customer is emailed)."""
        data = self.parse(TrackingIn)
        self.reply(await actions.add_tracking_event(int(id), data.status, data.location, data.description,
                                                    shipment_id=data.shipment_id))


class FilterByDateHandler(BaseHandler):
    role = USER

    @api(query=DateQuery, response=list[OrderBriefOut])
    async def get(self):
        """Orders created between start_date and end_date (a plain array, newest first)."""
        q = self.query(DateQuery)
        user = self.current_user
        f = queries.OrderFilters(status=q.status, start=q.start_date, end=q.end_date,
                                 user_id=None if user.is_staff else user.id)
        self.reply(await queries.orders_by_date(f))


class StatusCountsHandler(BaseHandler):
    role = ADMIN

    @api(response=StatusCountsOut)
    async def get(self):
        """Order counts and values per status (the filter tabs)."""
        self.reply(await queries.status_counts())


class ExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """Orders as CSV with the list's filters (streamed; ?async=1 builds a file)."""
        self.query(ExportQuery)
        await export_csv(self, "orders")


class BulkActionHandler(BaseHandler):
    role = ADMIN

    @api(body=BulkIn, response=BulkOut, rejects={400: "order ids or an action missing or not valid"})
    async def post(self):
        """Update the status of, or delete, many orders."""
        data = self.parse(BulkIn)
        if not data.order_ids or not data.action:
            raise AppError("order_ids and action are required", error="order_ids and action are required")
        if data.action == "update_status" and not data.status:
            raise AppError("status is required for update_status action",
                           error="status is required for update_status action")
        self.reply(await actions.bulk_action(data.order_ids, data.action, data.status))


class OrderCustomersHandler(BaseHandler):
    role = ADMIN

    @api(query=CustomersQuery, response=list[CustomerChoiceOut])
    async def get(self):
        """Customers for the order form's dropdown (at most 100; ?search= narrows)."""
        q = self.query(CustomersQuery)
        self.reply(await queries.customers_for_order_form(q.search))


class OrderChoicesHandler(BaseHandler):
    role = ADMIN

    @api(response=ChoicesOut)
    async def get(self):
        """Choices for the order form's dropdowns."""
        self.reply({
            "payment_types": [[k, v] for k, v in PAYMENT_TYPES.items()],
            "order_types": [[k, v] for k, v in ORDER_TYPES.items()],
            "status_choices": [[s, STATUS_DISPLAY[s]] for s in STATUSES],
            "payment_status_choices": [[s, PAYMENT_STATUS_DISPLAY[s]] for s in PAYMENT_STATUSES],
        })


routes = [
    Route("/api/orders/", OrderListHandler),
    Route("/api/orders/create_order/", OrderCreateHandler),
    Route("/api/order-create/", OrderCreateHandler),
    Route("/api/orders/filter-by-date/", FilterByDateHandler),
    Route("/api/orders/status_counts/", StatusCountsHandler),
    Route("/api/orders/export/", ExportHandler),
    Route("/api/orders/bulk_action/", BulkActionHandler),
    Route("/api/orders/customers/", OrderCustomersHandler),
    Route("/api/order-choices/", OrderChoicesHandler),
    Route("/api/orders/{id:int}/", OrderHandler),
    Route("/api/orders/{id:int}/update_status/", UpdateStatusHandler),
    Route("/api/orders/{id:int}/cancel/", CancelHandler),
    Route("/api/orders/{id:int}/refund/", RefundHandler),
    Route("/api/orders/{id:int}/tracking/", TrackingHandler),
    Route("/api/orders/{id:int}/tracking/add/", TrackingAddHandler),
]
