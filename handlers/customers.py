"""Customer management for staff: list, create, detail, statistics, transaction
history, edit, delete, bulk actions and CSV export."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import BLANK, Doc, Email, Flag, In, IsoDate, OptionalText, Out, PkList, Text, lower_choice
from handlers.core.openapi import api
from handlers.core.routing import Route
from handlers.exports import ExportStartedOut, export_csv
from models.customers import actions, queries
from models.customers.queries import CustomerFilters
from models.orders.tables import STATUSES

CustomerStatus = Annotated[Literal["active", "blocked"], BeforeValidator(lower_choice)]


CUSTOMER_REJECTS = {400: "an email address another customer uses, or a phone number that is not valid"}


class FilterQuery(CustomerFilters):
    """The domain's filters, with the dates and balance as the handler checks and documents them."""

    status: Annotated[str | None, Doc({"anyOf": [{"type": "string", "enum": ["active", "blocked"]}, BLANK]})] = Field(
        default=None, description="active or blocked (any case); blank: all")
    created_at_after: IsoDate | None = None
    created_at_before: IsoDate | None = None
    balance: Annotated[str | None, Doc({"anyOf": [{"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"},
                                                  BLANK]})] = Field(default=None, description="Minimum balance")
    orders_count: Annotated[str | None, Doc({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                                                       BLANK]})] = Field(default=None, description="Exact number of orders")


class CustomerListQuery(FilterQuery):
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=10, ge=1, description="Items per page (max 100).")


class ExportQuery(FilterQuery):
    async_: Flag = Field(default=False, alias="async", description="1: build the file in the background (202).")


class AddressIn(In):
    full_name: Text = Field(max_length=255)
    email: Email
    phone_number: OptionalText = Field(default="", max_length=20)
    street_address: Text = Field(max_length=255)
    city: Text = Field(max_length=100)
    state: OptionalText = Field(default="", max_length=100)
    country: Text = Field(max_length=100)
    zip_code: Text = Field(max_length=20)
    is_default: Flag = True


class CustomerIn(In):
    name: Text = Field(max_length=255)
    email: Email
    country_code: Annotated[str | None, Field(default=None, max_length=5, pattern=r"^\+?\d{1,4}$")] = None
    local_phone_number: Annotated[str | None, Field(default=None, max_length=20)] = None
    phone: Annotated[str | None, Field(default=None, max_length=20)] = None
    create_user_account: Flag = False
    password: Annotated[str | None, Field(default=None, max_length=128)] = None
    address: AddressIn | None = None


class CustomerUpdateIn(In):
    name: Text | None = Field(default=None, max_length=255)
    email: Email | None = None
    country_code: Annotated[str | None, Field(default=None, max_length=5, pattern=r"^\+?\d{1,4}$")] = None
    local_phone_number: Annotated[str | None, Field(default=None, max_length=20)] = None
    phone: Annotated[str | None, Field(default=None, max_length=20)] = None
    status: CustomerStatus | None = None


class CustomerPutIn(CustomerUpdateIn):
    name: Text = Field(max_length=255)
    email: Email


class BulkActionIn(In):
    action: Literal["update_status", "delete"]
    customer_ids: PkList = []
    status: Annotated[str | None, BeforeValidator(lower_choice)] = Field(
        default=None, description="Required for update_status: active or blocked.")
    select_all: Flag = False
    exclude_ids: PkList = []


class TransactionsQuery(In):
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    created_at_after: IsoDate | None = None
    created_at_before: IsoDate | None = None
    ordering: Literal[tuple(queries.TRANSACTION_ORDERINGS)] = "-created_at"  # type: ignore[valid-type]
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=10, ge=1)


class CustomerOut(Out):
    id: int
    name: str
    email: str
    phone: str
    status: CustomerStatus
    orders_count: int
    balance: str
    created_at: str


class CustomerPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[CustomerOut]


class RecentOrderOut(Out):
    id: int
    order_number: str
    status: str
    total: str
    created_at: str


class CustomerDetailOut(CustomerOut):
    country_code: str
    local_phone_number: str
    user_id: int | None
    user_details: dict
    default_address: dict | None
    recent_orders: list[RecentOrderOut]
    last_transaction_date: str | None


class StatisticsOut(Out):
    total_orders: int
    total_spent: str
    monthly_orders: int
    avg_order_value: str
    abandoned_carts_count: int
    order_status_counts: dict[str, int]
    recent_orders: list[RecentOrderOut]


class TransactionOut(Out):
    id: int
    order_number: str
    customer_name: str
    customer_email: str
    products_display_string: str
    items_count: int
    total: str
    status: str
    status_display: str
    payment_status: str
    payment: dict
    created_at: str


class TransactionPageOut(Out):
    count: int
    next: str | None
    previous: str | None
    results: list[TransactionOut]


class BulkOut(Out):
    status: str
    affected: int


def _filters(handler: BaseHandler) -> dict[str, Any]:
    params = {k: v[-1].decode("utf-8", "replace") for k, v in handler.request.query_arguments.items()}
    handler.query(_DateChecks)  # YYYY-MM-DD only, in the API's words
    return queries.clean_filters(params)


class _DateChecks(In):
    created_at_after: IsoDate | None = None
    created_at_before: IsoDate | None = None


class CustomerListHandler(BaseHandler):
    role = ADMIN
    default_page_size = 10

    @api(query=CustomerListQuery, response=CustomerPageOut)
    async def get(self):
        """Customers, filtered, searched (name, email, phone) and ordered; 10 a page."""
        filters = _filters(self)
        page, size = self.page_params()
        count, rows = await queries.list_customers(filters, page, size)
        self.reply(self.page_envelope(page, size, count, rows))

    @api(body=CustomerIn, response=CustomerDetailOut, status=201, rejects=CUSTOMER_REJECTS)
    async def post(self):
        """Create a customer, optionally with a user account and an address."""
        data = self.parse(CustomerIn)
        customer_id = await actions.create_customer(data.model_dump())
        self.reply(await queries.customer_detail(customer_id), 201)


class AddCustomerHandler(BaseHandler):
    role = ADMIN

    @api(body=CustomerIn, response=CustomerDetailOut, status=201, rejects=CUSTOMER_REJECTS)
    async def post(self):
        """Create a customer (alias of POST /api/customers/)."""
        data = self.parse(CustomerIn)
        customer_id = await actions.create_customer(data.model_dump())
        self.reply(await queries.customer_detail(customer_id), 201)


class CustomerHandler(BaseHandler):
    role = ADMIN

    @api(response=CustomerDetailOut)
    async def get(self, id: str):
        """One customer with default address, last login, photo and recent orders."""
        self.reply(await queries.customer_detail(int(id)))

    @api(body=CustomerPutIn, response=CustomerDetailOut, rejects=CUSTOMER_REJECTS)
    async def put(self, id: str):
        """Replace a customer's editable fields (name and email required)."""
        data = self.parse(CustomerPutIn)
        await actions.update_customer(self.current_user, int(id), data.model_dump(exclude_unset=True))
        self.reply(await queries.customer_detail(int(id)))

    @api(body=CustomerUpdateIn, response=CustomerDetailOut, rejects=CUSTOMER_REJECTS)
    async def patch(self, id: str):
        """Change some of a customer's fields (status blocks or unblocks at once)."""
        data = self.parse(CustomerUpdateIn)
        await actions.update_customer(self.current_user, int(id), data.model_dump(exclude_unset=True))
        self.reply(await queries.customer_detail(int(id)))

    @api(status=204, rejects={400: "one's own account"})
    async def delete(self, id: str):
        """Delete a customer and its user account."""
        await actions.delete_customer(self.current_user, int(id))
        self.reply(status=204)


class CustomerStatisticsHandler(BaseHandler):
    role = ADMIN

    @api(response=StatisticsOut)
    async def get(self, id: str):
        """Lifetime order figures of one customer."""
        self.reply(await queries.customer_statistics(int(id), STATUSES))


class CustomerTransactionsHandler(BaseHandler):
    role = ADMIN
    default_page_size = 10

    @api(query=TransactionsQuery, response=TransactionPageOut)
    async def get(self, id: str):
        """A customer's orders (transaction history), newest first, paginated."""
        q = self.query(TransactionsQuery)
        page, size = self.page_params()
        count, rows = await queries.customer_transactions(int(id), q.model_dump(), page, size)
        self.reply(self.page_envelope(page, size, count, rows))


class CustomerExportHandler(BaseHandler):
    role = ADMIN

    @api(query=ExportQuery, content_type="text/csv", responses={202: ExportStartedOut})
    async def get(self):
        """The filtered customer list as CSV (streamed; ``?async=1`` builds it in the background)."""
        self.query(_DateChecks)
        await export_csv(self, "customers")


class CustomerBulkActionHandler(BaseHandler):
    role = ADMIN

    @api(body=BulkActionIn, query=FilterQuery, response=BulkOut,
         rejects={400: "a status or action not valid, or one's own account"})
    async def post(self):
        """Block/unblock or delete selected customers, or all matching the query's filters."""
        data = self.parse(BulkActionIn)
        affected = await actions.bulk_action(self.current_user, data.action, data.customer_ids, data.status,
                                             data.select_all, data.exclude_ids, _filters(self))
        self.reply({"status": "success", "affected": affected})


routes = [
    Route("/api/customers/", CustomerListHandler),
    Route("/api/customers/add_customer/", AddCustomerHandler),
    Route("/api/customers/export/", CustomerExportHandler),
    Route("/api/customers/bulk_action/", CustomerBulkActionHandler),
    Route("/api/customers/{id:int}/", CustomerHandler),
    Route("/api/customers/{id:int}/statistics/", CustomerStatisticsHandler),
    Route("/api/customers/{id:int}/transactions/", CustomerTransactionsHandler),
]
