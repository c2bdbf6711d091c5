"""The admin dashboard's metrics. Definitions: models/dashboard/metrics.py
(quoted in each operation's description of the OpenAPI document)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, create_model

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import In, MoneyText, Out, choices_doc
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.dashboard import metrics

Period = str  # a name of metrics.PERIODS (one table for every dashboard operation)
_PERIODS_DOC = ("day, week, month, year; the chart's last_7_days, last_30_days, this_month are accepted too "
                "(every dashboard operation takes every name). Invalid values → 400 with valid_periods.")


_LONGEST = max(len(p) for p in metrics.PERIODS)


class PeriodQuery(In):
    period: Annotated[Period, choices_doc(tuple(metrics.PERIODS))] = Field(
        default="week", max_length=_LONGEST, description="Blank: week. " + _PERIODS_DOC)


class ChartQuery(In):
    metric: Literal["sales", "orders_count", "new_customers_count"]
    period: Annotated[Period, choices_doc(tuple(metrics.CHART_PERIODS) + tuple(
        p for p in metrics.PERIODS if p not in metrics.CHART_PERIODS), blank=False)] = Field(
        default="last_7_days", max_length=_LONGEST, description="Default: last_7_days. " + _PERIODS_DOC)


class RecentQuery(In):
    limit: int = Field(default=6, ge=1, le=100)


def _per_status(name: str, model: type[Out], first: str, suffix: str = "") -> type[Out]:
    """An object with one key per order status (lower case, + ``suffix``) after ``first``."""
    keys = [first] + [s.lower() + suffix for s in metrics.STATUSES]
    return create_model(name, __base__=Out, **{key: (model, ...) for key in keys})


class StatusCount(Out):
    status: str
    count: int


class StatusFigures(Out):
    count: int
    total_value: float = Field(description="A number, as the spec shows")
    avg_order_value: float


class CountGrowth(Out):
    count: int
    growth: float = Field(description="Percent change from the previous period (12.5)")


StatusSummary = _per_status("StatusSummary", StatusFigures, "all")
OrdersCard = _per_status("OrdersCard", CountGrowth, "all_orders")


class OrderMetrics(Out):
    orders_by_status: list[StatusCount]
    status_summary: StatusSummary  # type: ignore[valid-type]
    total_revenue: MoneyText
    total_orders: int
    period: Period


class OrderMetricsOut(Out):
    success: bool
    data: OrderMetrics
    status_summary: StatusSummary  # type: ignore[valid-type]


class CartMetrics(Out):
    abandoned_rate: float = Field(description="A fraction (0.75)")
    total_carts: int
    abandoned_carts: int
    recovered_carts: int
    recovered_revenue: MoneyText
    period: Period


class CartMetricsOut(Out):
    success: bool
    data: CartMetrics


class CustomerMetrics(Out):
    total_customers: int
    active_customers: int
    new_customers: int
    growth_rate: float = Field(description="A fraction (0.25)")
    period: Period


class CustomerMetricsOut(Out):
    success: bool
    data: CustomerMetrics


class TrendDay(Out):
    date: str = Field(description="YYYY-MM-DD")
    revenue: MoneyText
    orders: int


class SalesTrendOut(Out):
    success: bool
    data: list[TrendDay]


class AbandonedCartCard(Out):
    rate: float = Field(description="A percentage (25.5)")
    change: float
    total_carts: int
    abandoned_count: int
    recovered_count: int
    recovered_revenue: float


class CustomersCard(Out):
    new_customers: int
    new_customers_growth: float
    total_customers: int
    total_growth: float


class RevenueCard(Out):
    total: float
    growth: float


class OverviewOut(Out):
    abandoned_cart: AbandonedCartCard
    customers: CustomersCard
    active_customers: CountGrowth
    orders: OrdersCard  # type: ignore[valid-type]
    revenue: RevenueCard
    period: Period
    last_updated: str


class CountLabel(Out):
    count: int
    label: str


_SummaryCounts = _per_status("SummaryCounts", CountLabel, "all_orders", "_orders")


class Summary(_SummaryCounts):  # type: ignore[valid-type, misc]
    total_revenue: float


class SummaryOut(Out):
    summary: Summary
    period: Period
    last_updated: str


class ChartPoint(Out):
    date: str
    value: MoneyText | int = Field(description="sales: a money string; counts: an integer")


class ChartOut(Out):
    chart_data: list[ChartPoint]
    metric_label: str
    period_label: str


class RecentLine(Out):
    product_name: str
    quantity: int
    price: MoneyText


class RecentOrder(Out):
    id: int
    order_number: str
    customer_name: str
    customer_email: str
    user_email: str
    total: float = Field(description="A number, as the spec shows")
    status: str
    status_display: str
    created_at: str
    product_image: str | None
    items_count: int
    first_product_name: str | None
    items: list[RecentLine]


class RecentOut(Out):
    recent_orders: list[RecentOrder]
    total_count: int
    success: bool
    data: list[RecentOrder] = Field(description="The same list as recent_orders")


def _described(fn):
    """Put the metric definitions into the operation's OpenAPI description."""
    fn.__doc__ = (fn.__doc__ or "").strip() + "\n\n" + metrics.DEFINITIONS
    return fn


class MetricHandler(BaseHandler):
    role = ADMIN

    def period(self) -> str:
        raw = self.request.query_arguments.get("period")  # as sent: get_query_argument drops control characters
        return metrics.check_period(raw[-1].decode("utf-8", "replace") if raw else None)


class CartMetricsHandler(MetricHandler):
    @api(query=PeriodQuery, response=CartMetricsOut)
    @_described
    async def get(self):
        """Cart metrics: total and abandoned carts, abandoned rate (a fraction), recovered revenue."""
        self.reply({"success": True, "data": await metrics.cart_metrics(self.period())})


class CustomerMetricsHandler(MetricHandler):
    @api(query=PeriodQuery, response=CustomerMetricsOut)
    @_described
    async def get(self):
        """Customer metrics: total, active, new customers and growth rate (a fraction)."""
        self.reply({"success": True, "data": await metrics.customer_metrics(self.period())})


class OrderMetricsHandler(MetricHandler):
    @api(query=PeriodQuery, response=OrderMetricsOut)
    @_described
    async def get(self):
        """Order metrics: orders by status, status_summary, revenue and order count."""
        data = await metrics.order_metrics(self.period())
        self.reply({"success": True, "data": data, "status_summary": data["status_summary"]})


class SalesTrendHandler(MetricHandler):
    @api(query=PeriodQuery, response=SalesTrendOut)
    @_described
    async def get(self):
        """Revenue and orders per day of the period (every day, empty ones included)."""
        self.reply({"success": True, "data": await metrics.sales_trend(self.period())})


class RecentOrdersHandler(BaseHandler):
    role = ADMIN
    reads = {"GET": metrics.VERSIONS_READ}  # with the user: a cached answer costs one statement

    @api(query=RecentQuery, response=RecentOut)
    async def get(self):
        """The newest orders with first product and image, and the number of orders."""
        q = self.query(RecentQuery)
        data = await metrics.recent_orders(q.limit, self.read_rows)
        self.reply({**data, "success": True, "data": data["recent_orders"]})


class OverviewMetricsHandler(MetricHandler):
    reads = {"GET": metrics.VERSIONS_READ}  # with the user: a cached answer costs one statement

    @api(query=PeriodQuery, response=OverviewOut)
    @_described
    async def get(self):
        """Summary cards with period-over-period change."""
        self.reply(await metrics.overview_metrics(self.period(), self.read_rows))


class DashboardSummaryHandler(MetricHandler):
    @api(query=PeriodQuery, response=SummaryOut)
    @_described
    async def get(self):
        """Order counts per status and revenue of the period."""
        self.reply(await metrics.dashboard_summary(self.period()))


class ChartDataHandler(BaseHandler):
    role = ADMIN

    @api(query=ChartQuery, response=ChartOut)
    @_described
    async def get(self):
        """One point per day for a chart of sales, orders_count or new_customers_count."""
        metric, period = metrics.check_chart(self.get_query_argument("metric", None),
                                             self.get_query_argument("period", None))
        self.reply(await metrics.chart_data(metric, period))


routes = [
    Route("/api/dashboard/cart_metrics/", CartMetricsHandler),
    Route("/api/dashboard/customer_metrics/", CustomerMetricsHandler),
    Route("/api/dashboard/order_metrics/", OrderMetricsHandler),
    Route("/api/dashboard/sales_trend/", SalesTrendHandler),
    Route("/api/dashboard/recent_orders/", RecentOrdersHandler),
    Route("/api/dashboard/overview_metrics/", OverviewMetricsHandler),
    Route("/api/dashboard/dashboard_summary/", DashboardSummaryHandler),
    Route("/api/dashboard/summary-chart-data/", ChartDataHandler),
]
