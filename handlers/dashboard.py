"""The admin dashboard's metrics. Definitions: models/dashboard/metrics.py
(quoted in each operation's description of the OpenAPI document)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from handlers.core.base import ADMIN, BaseHandler
from handlers.core.fields import In, Out, choices_doc
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


class Envelope(Out):
    success: bool
    data: Any


class OverviewOut(Out):
    abandoned_cart: dict
    customers: dict
    active_customers: dict
    orders: dict
    revenue: dict
    period: Period
    last_updated: str


class SummaryOut(Out):
    summary: dict
    period: Period
    last_updated: str


class ChartPoint(Out):
    date: str
    value: str | int


class ChartOut(Out):
    chart_data: list[ChartPoint]
    metric_label: str
    period_label: str


class RecentOut(Out):
    recent_orders: list[dict]
    total_count: int


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
    @api(query=PeriodQuery, response=Envelope)
    @_described
    async def get(self):
        """Cart metrics: total and abandoned carts, abandoned rate (a fraction), recovered revenue."""
        self.reply({"success": True, "data": await metrics.cart_metrics(self.period())})


class CustomerMetricsHandler(MetricHandler):
    @api(query=PeriodQuery, response=Envelope)
    @_described
    async def get(self):
        """Customer metrics: total, active, new customers and growth rate (a fraction)."""
        self.reply({"success": True, "data": await metrics.customer_metrics(self.period())})


class OrderMetricsHandler(MetricHandler):
    @api(query=PeriodQuery, response=Envelope)
    @_described
    async def get(self):
        """Order metrics: orders by status, status_summary, revenue and order count."""
        data = await metrics.order_metrics(self.period())
        self.reply({"success": True, "data": data, "status_summary": data["status_summary"]})


class SalesTrendHandler(MetricHandler):
    @api(query=PeriodQuery, response=Envelope)
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
