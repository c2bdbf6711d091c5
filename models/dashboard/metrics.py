"""Dashboard metrics. Definitions (the OpenAPI descriptions quote them):

- Days are UTC calendar days; "today" is the current UTC day.
- Periods end today (inclusive): ``day`` = today, ``week`` = the last 7 days,
  ``month`` = the last 30 days, ``year`` = the last 365 days. The previous
  period is the same number of days just before it.
- An order belongs to the day it was created, counted under its current status.
- A *sale* is a paid order: its payment went through (payment status PAID,
  PARTIALLY_REFUNDED or REFUNDED; SQL ``order_is_paid``). Unpaid orders
  (pending, failed) are never revenue, whatever their total. Revenue of a
  period = the totals of the paid orders placed in it (``order_sales_value``,
  SQL ``order_sales_value``) less the refunds made in it (succeeded refunds
  by the day of the refund, ``refund.created_at``, not of the order: a
  refund today of last month's order takes today's revenue down, and last
  month's figures do not change). An order's own revenue is its total less
  what was refunded (``order_revenue``, SQL ``order_revenue``); customers'
  balance and total spent are their orders' revenue. Order counts (per
  status, all orders, orders per day) count every order placed, paid or not.
- New customers: customer records created in the period. Total customers: all
  records created up to the end of the period. Active customers: those not blocked.
- Growth: percentage change against the previous period (one decimal;
  100.0 when the previous value was 0 and the current is not).
- Carts (CONTRACT: a cart is abandoned when it holds items, has been idle for
  ABANDONED_CART_HOURS and no order followed it; the cart's job records each
  such episode in ``abandoned_cart``): abandoned carts = episodes that began in
  the period; total carts = abandoned carts + orders created in the period
  (carts that were checked out); abandoned rate = abandoned / total (a fraction
  in cart_metrics, a percentage in overview_metrics, whose ``change`` is the
  difference in percentage points); recovered = episodes whose reminder was
  followed by an order in the period, with that order's total as recovered revenue.
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import orjson

from models.core.db import (
    RideAlong,
    average,
    fetch_all,
    fetch_prepared,
    half_up,
    iso,
    money,
    money_number,
    ratio,
    utcnow,
)
from models.core.errors import AppError
from models.orders.tables import PAID_PAYMENT_STATUSES, STATUSES
from models.orders.tables import STATUS_DISPLAY as ORDER_STATUS_DISPLAY

# One table of period names for every dashboard operation: a window of whole UTC days
# ending today (its length in days; None: from the 1st of this month) and its label. The
# metrics' names (day…year) and the chart's (last_7_days…) are accepted everywhere;
# each operation lists the names its spec shows in ``valid_periods``.
PERIODS: dict[str, tuple[int | None, str]] = {
    "day": (1, "Today"), "week": (7, "Last 7 Days"), "month": (30, "Last 30 Days"), "year": (365, "Last 365 Days"),
    "last_7_days": (7, "Last 7 Days"), "last_30_days": (30, "Last 30 Days"), "this_month": (None, "This Month"),
}
METRIC_PERIODS = ("day", "week", "month", "year")
CHART_PERIODS = ("last_7_days", "last_30_days", "this_month")
PERIOD_DAYS = {name: days for name, (days, _label) in PERIODS.items() if days}
CHART_METRICS = {"sales": "Total Sales", "orders_count": "Orders", "new_customers_count": "New Customers"}
STATUS_LABELS = dict(ORDER_STATUS_DISPLAY)
STATUS_DISPLAY = {**STATUS_LABELS, "DELIVERED": "Completed"}
DEFINITIONS = __doc__


def order_revenue(payment_status: str, total: Decimal, refunded_amount: Decimal) -> Decimal:
    """What an order brought in: its total less refunds when it was paid, else
    0 (and 0 once fully refunded, whatever amount was recorded).
    SQL twin: ``order_revenue(payment_status, total, refunded_amount)``
    (migration 0013, used by the rollups and the live queries); a test checks
    they agree."""
    if payment_status not in PAID_PAYMENT_STATUSES or payment_status == "REFUNDED":
        return Decimal("0.00")  # unpaid, or all of it went back
    return money(Decimal(total) - Decimal(refunded_amount))


def order_sales_value(payment_status: str, total: Decimal) -> Decimal:
    """What a paid order brought in on the day it was placed, before refunds
    (they count on their own day): its total when paid, else 0.
    SQL twin: ``order_sales_value(payment_status, total)`` (migration 0022,
    the rollups and live queries); a test checks they agree."""
    return money(Decimal(total)) if payment_status in PAID_PAYMENT_STATUSES else Decimal("0.00")


def check_period(period: str | None, default: str = "week", names: tuple[str, ...] = METRIC_PERIODS) -> str:
    """A name of ``PERIODS`` (any of them), or AppError 400 listing ``names`` as
    ``valid_periods`` (the operation's own, as its spec shows) and the others as
    ``also_accepted``."""
    period = (period or default).strip().lower()
    if period not in PERIODS:
        others = [p for p in PERIODS if p not in names]
        text = (f"Invalid period. Choose from {', '.join(repr(p) for p in names)} "
                f"(or {', '.join(repr(p) for p in others)}).")
        raise AppError(text, {"period": [text]}, valid_periods=list(names), also_accepted=others, error=text)
    return period


def check_chart(metric: str | None, period: str | None) -> tuple[str, str]:
    metric = (metric or "").strip()
    if metric not in CHART_METRICS:
        text = "Invalid metric specified. Choose from 'sales', 'orders_count', 'new_customers_count'."
        raise AppError(text, {"metric": [text]}, valid_metrics=list(CHART_METRICS), error=text)
    return metric, check_period(period, "last_7_days", CHART_PERIODS)


def today() -> dt.date:
    return utcnow().date()


def window(period: str, end: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of ``period`` ending ``end`` (today)."""
    end = end or today()
    days = PERIODS[period][0]
    return (end.replace(day=1) if days is None else end - dt.timedelta(days=days - 1)), end


def previous(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    days = (end - start).days + 1
    return start - dt.timedelta(days=days), start - dt.timedelta(days=1)


def growth(current: Any, before: Any) -> float:
    current, before = Decimal(current), Decimal(before)
    if before == 0:
        return 100.0 if current else 0.0
    return float(half_up((current - before) / before * 100, 1))


# --- the two readers: rollups for past days + a live query for today --------------

_ORDER_FIGURES = """
  SELECT CASE WHEN day >= %(start)s THEN 0 ELSE 1 END, status, sum(n)::bigint, sum(total_value),
         sum(sales)::bigint, sum(sale_value)
  FROM (
    SELECT day, status, n, total_value, sales, sale_value FROM order_daily
     WHERE day BETWEEN %(first)s AND %(last_past)s
    UNION ALL
    SELECT %(today)s::date, status, 1, total, s::int, r
      FROM (SELECT status, total, order_is_paid(payment_status) AS s,
                   order_sales_value(payment_status, total) AS r FROM orders
             WHERE %(live)s AND created_at >= %(today)s::timestamp
               AND created_at < %(today)s::timestamp + interval '1 day') t
    UNION ALL
    SELECT day, NULL, 0, 0, 0, -amount FROM refund_daily WHERE day BETWEEN %(first)s AND %(last_past)s
    UNION ALL
    SELECT %(today)s::date, NULL, 0, 0, 0, -amount FROM refund
     WHERE %(live)s AND status = 'succeeded' AND created_at >= %(today)s::timestamp
       AND created_at < %(today)s::timestamp + interval '1 day'
  ) f GROUP BY 1, 2"""
# (Refunds are the rows without a status: they take revenue down, nothing else.)


def _params(start: dt.date, end: dt.date) -> dict[str, Any]:
    t = today()
    return {"start": start, "first": start, "end": end, "last_past": min(end, t - dt.timedelta(days=1)),
            "today": t, "live": start <= t <= end}


def _empty_figures() -> dict[str, Any]:
    return {"by_status": {s: {"count": 0, "total_value": Decimal(0)} for s in STATUSES},
            "orders": 0, "revenue": Decimal(0), "sales": 0}


def _sum_figures(rows) -> list[dict[str, Any]]:
    """The current and previous period's figures from ``_ORDER_FIGURES`` rows
    ``(bucket, status, n, value, sales, sale_value)``."""
    figures = [_empty_figures(), _empty_figures()]
    for bucket, status, n, value, sales, sale_value in rows:
        f = figures[bucket]
        if status is None:  # the period's refunds
            f["revenue"] += sale_value or 0
            continue
        f["by_status"][status]["count"] += n
        f["by_status"][status]["total_value"] += value or 0
        f["orders"] += n
        f["revenue"] += sale_value or 0
        f["sales"] += sales
    for f in figures:
        f["revenue"] = money(f["revenue"])
    return figures


async def order_figures(start: dt.date, end: dt.date,
                        with_previous: bool = False) -> dict[str, Any] | tuple[dict[str, Any], dict[str, Any]]:
    """Orders created in [start, end]: count and value per status, revenue (sales).

    ``with_previous``: also the previous period of the same length, read in the
    same statement; returns ``(current, previous)``. One statement either way."""
    params = _params(start, end)
    if with_previous:
        params["first"] = previous(start, end)[0]
    figures = _sum_figures(await fetch_prepared(_ORDER_FIGURES, params))
    return (figures[0], figures[1]) if with_previous else figures[0]


_DAILY_ORDERS = """
  SELECT day, sum(n)::bigint, sum(sale_value)
  FROM (
    SELECT day, n, sale_value FROM order_daily WHERE day BETWEEN %(start)s AND %(last_past)s
    UNION ALL
    SELECT %(today)s::date, 1, order_sales_value(payment_status, total) FROM orders
     WHERE %(live)s AND created_at >= %(today)s::timestamp AND created_at < %(today)s::timestamp + interval '1 day'
    UNION ALL
    SELECT day, 0, -amount FROM refund_daily WHERE day BETWEEN %(start)s AND %(last_past)s
    UNION ALL
    SELECT %(today)s::date, 0, -amount FROM refund
     WHERE %(live)s AND status = 'succeeded' AND created_at >= %(today)s::timestamp
       AND created_at < %(today)s::timestamp + interval '1 day'
  ) f GROUP BY 1"""


async def daily_orders(start: dt.date, end: dt.date) -> dict[dt.date, tuple[int, Decimal]]:
    """Per day in [start, end] with orders or refunds: (orders, revenue: sales
    less that day's refunds). One statement."""
    return {d: (n, money(v)) for d, n, v in await fetch_prepared(_DAILY_ORDERS, _params(start, end))}


_CUSTOMER_FIGURES = """
  SELECT
    coalesce(sum(n) FILTER (WHERE day BETWEEN %(start)s AND %(end)s), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE day BETWEEN %(pstart)s AND %(pend)s), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE day <= %(end)s), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE day <= %(pend)s), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE day <= %(end)s AND status = 'active'), 0)::bigint,
    coalesce(sum(n) FILTER (WHERE day <= %(pend)s AND status = 'active'), 0)::bigint
  FROM (
    SELECT day, status, n FROM customer_daily WHERE day < %(today)s
    UNION ALL
    SELECT %(today)s::date, status, 1 FROM customer WHERE created_at >= %(today)s::timestamp
  ) f"""


async def customer_figures(start: dt.date, end: dt.date) -> dict[str, int]:
    """New customers in the period and the previous one, totals and active (not
    blocked) customers at the end of each. One statement."""
    pstart, pend = previous(start, end)
    row = (await fetch_prepared(_CUSTOMER_FIGURES, {"start": start, "end": end, "pstart": pstart, "pend": pend,
                                               "today": today()}))[0]
    keys = ("new", "new_before", "total", "total_before", "active", "active_before")
    return dict(zip(keys, row))


_DAILY_CUSTOMERS = """
  SELECT day, sum(n)::bigint FROM (
    SELECT day, n FROM customer_daily WHERE day BETWEEN %(start)s AND %(last_past)s
    UNION ALL
    SELECT %(today)s::date, 1 FROM customer WHERE %(live)s AND created_at >= %(today)s::timestamp
  ) f GROUP BY 1"""


async def daily_new_customers(start: dt.date, end: dt.date) -> dict[dt.date, int]:
    return {d: n for d, n in await fetch_prepared(_DAILY_CUSTOMERS, _params(start, end))}


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# --- the endpoints' answers -------------------------------------------------------------

def _number(value: Decimal) -> float:
    return float(money(value))


async def order_metrics(period: str) -> dict[str, Any]:
    start, end = window(period)
    f = await order_figures(start, end)
    everything = sum((v["total_value"] for v in f["by_status"].values()), start=Decimal(0))
    summary = {"all": {"count": f["orders"], "total_value": _number(everything),
                       "avg_order_value": float(average(everything, f["orders"]))}}
    for status, v in f["by_status"].items():
        summary[status.lower()] = {"count": v["count"], "total_value": _number(v["total_value"]),
                                   "avg_order_value": float(average(v["total_value"], v["count"]))}
    return {
        "orders_by_status": [{"status": s, "count": f["by_status"][s]["count"]} for s in STATUSES],
        "status_summary": summary,
        "total_revenue": f"{f['revenue']:.2f}",
        "total_orders": f["orders"],
        "period": period,
    }


async def customer_metrics(period: str) -> dict[str, Any]:
    start, end = window(period)
    c = await customer_figures(start, end)
    before = c["total"] - c["new"]
    rate = ratio(c["new"], before, 4) if before else (1.0 if c["new"] else 0.0)
    return {"total_customers": c["total"], "active_customers": c["active"], "new_customers": c["new"],
            "growth_rate": rate, "period": period}


async def sales_trend(period: str) -> list[dict[str, Any]]:
    start, end = window(period)
    daily = await daily_orders(start, end)
    return [{"date": d.isoformat(), "revenue": f"{daily.get(d, (0, Decimal(0)))[1]:.2f}",
             "orders": daily.get(d, (0, 0))[0]} for d in days(start, end)]


_has_cart: bool | None = None


async def has_cart_tables() -> bool:
    """Whether the cart's ``abandoned_cart`` table exists (the cart issue's migration)."""
    global _has_cart
    if _has_cart is None:
        _has_cart = (await fetch_all("SELECT to_regclass('abandoned_cart') IS NOT NULL"))[0][0]
    return _has_cart


_CART_FIGURES = """
  SELECT
    count(*) FILTER (WHERE a.abandoned_at >= %(start)s AND a.abandoned_at < %(end)s::date + 1),
    count(*) FILTER (WHERE a.abandoned_at < %(start)s),
    (SELECT count(*) FROM abandoned_cart r WHERE r.order_id IS NOT NULL
       AND r.recovered_at >= %(start)s AND r.recovered_at < %(end)s::date + 1),
    (SELECT coalesce(sum(o.total), 0) FROM abandoned_cart r JOIN orders o ON o.id = r.order_id
      WHERE r.order_id IS NOT NULL AND r.recovered_at >= %(start)s AND r.recovered_at < %(end)s::date + 1)
  FROM abandoned_cart a WHERE a.abandoned_at >= %(pstart)s AND a.abandoned_at < %(end)s::date + 1"""


async def cart_figures(start: dt.date, end: dt.date) -> dict[str, Any]:
    """Abandoned carts of the period and of the previous one, and what reminders
    recovered in the period (one statement; zeros before the cart exists)."""
    if not await has_cart_tables():
        return {"abandoned": 0, "abandoned_before": 0, "recovered": 0, "recovered_revenue": Decimal(0)}
    pstart, _ = previous(start, end)
    row = (await fetch_prepared(_CART_FIGURES, {"start": start, "end": end, "pstart": pstart}))[0]
    return {"abandoned": row[0], "abandoned_before": row[1], "recovered": row[2],
            "recovered_revenue": money(row[3])}


def _rate(abandoned: int, orders: int, places: int, scale: int = 1) -> float:
    """Abandoned carts / (abandoned carts + orders), × ``scale`` (100: a percentage), rounded half up once."""
    return ratio(abandoned * scale, abandoned + orders, places)


async def cart_metrics(period: str) -> dict[str, Any]:
    start, end = window(period)
    orders = await order_figures(start, end)
    carts = await cart_figures(start, end)
    return {"abandoned_rate": _rate(carts["abandoned"], orders["orders"], 4),
            "total_carts": carts["abandoned"] + orders["orders"], "abandoned_carts": carts["abandoned"],
            "recovered_carts": carts["recovered"], "recovered_revenue": f"{carts['recovered_revenue']:.2f}",
            "period": period}


async def abandoned_carts_of_user(user_id: int | None) -> int:
    if user_id is None or not await has_cart_tables():
        return 0
    return (await fetch_all("SELECT count(*) FROM abandoned_cart WHERE user_id = %s", [user_id]))[0][0]


_NO_CART = "SELECT 0::bigint, 0::bigint, 0::bigint, 0::numeric"


async def _overview_figures(start: dt.date, end: dt.date) -> tuple[dict, dict, dict, dict]:
    """The figures overview_metrics needs (orders of the period and of the previous
    one, customers, carts) in ONE statement: the same queries as order_figures,
    customer_figures and cart_figures, side by side."""
    pstart, pend = previous(start, end)
    params = {**_params(start, end), "first": pstart, "pstart": pstart, "pend": pend}
    cart_sql = _CART_FIGURES if await has_cart_tables() else _NO_CART
    rows = await fetch_prepared(
        f"SELECT c.*, k.*, o.* FROM ({_CUSTOMER_FIGURES}) c CROSS JOIN ({cart_sql}) k "
        f"LEFT JOIN ({_ORDER_FIGURES}) o ON TRUE", params)
    figures = _sum_figures(row[10:] for row in rows if row[10] is not None)
    first = rows[0]
    customers = dict(zip(("new", "new_before", "total", "total_before", "active", "active_before"), first[:6]))
    carts = {"abandoned": first[6], "abandoned_before": first[7], "recovered": first[8],
             "recovered_revenue": money(first[9])}
    return figures[0], figures[1], customers, carts


# --- answers cached per process under the versions of what they read ---------------------
#
# The overview and the recent orders are read far more often than the data
# behind them changes. Each is kept per process under the versions of
# everything it reads, read first in ONE statement: order_version (orders,
# their items and payments; migration 0008), catalog_version (product images;
# migration 0003) and dashboard_version (customers and abandoned carts;
# migration 0011), each bumped by deferred triggers when a change commits.
# An answer is stored under the versions read before it was built, so a
# commit in between changes them and it is never served stale; a missing
# version row (an emptied table) means nothing is cached.

_VERSIONS = """
  SELECT (SELECT version FROM order_version), (SELECT version FROM catalog_version),
         (SELECT version FROM dashboard_version)"""
# The versions riding along with the staff user's lookup (handlers' ``reads``):
# a cached answer then costs that one statement. Harmless to read before the
# user is confirmed (counters), and never used for a non-staff token (403).
VERSIONS_READ = RideAlong(_VERSIONS)
ANSWER_CACHE_SIZE = 64
_answers: "OrderedDict[tuple, tuple[tuple, Any]]" = OrderedDict()


async def versions(rows: list[tuple] | None = None) -> tuple | None:
    """(order, catalog, dashboard) versions, or None when one is missing;
    from ``VERSIONS_READ``'s rows when given, else read (one statement)."""
    if rows is None:
        rows = await VERSIONS_READ.fetch(None)
    row = rows[0]
    return None if None in row else tuple(row)


async def _cached(key: tuple, build, version_rows: list[tuple] | None = None) -> Any:
    """The answer ``build()`` gives under the current versions: one statement
    (the versions) when cached, none given ``version_rows`` (read with the
    user), plus ``build``'s statements when not cached."""
    version = await versions(version_rows)
    if version is not None:
        hit = _answers.get(key)
        if hit is not None and hit[0] == version:
            _answers.move_to_end(key)
            return hit[1]
    answer = await build()
    if version is not None:
        _answers[key] = (version, answer)
        _answers.move_to_end(key)
        while len(_answers) > ANSWER_CACHE_SIZE:
            _answers.popitem(last=False)
    return answer


async def overview_metrics(period: str, version_rows: list[tuple] | None = None) -> dict[str, Any]:
    """The overview cards; cached per process (``_cached``) for the period and
    today's date (periods end today); ``last_updated`` is set on every request.
    ``version_rows``: ``VERSIONS_READ``'s rows, when read with the user."""
    answer = await _cached(("overview", period, today()), lambda: _overview(period), version_rows)
    return {**answer, "last_updated": iso(utcnow())}


async def _overview(period: str) -> dict[str, Any]:
    start, end = window(period)
    cur, prev, c, carts = await _overview_figures(start, end)
    rate = _rate(carts["abandoned"], cur["orders"], 1, scale=100)
    rate_before = _rate(carts["abandoned_before"], prev["orders"], 1, scale=100)
    orders = {"all_orders": {"count": cur["orders"], "growth": growth(cur["orders"], prev["orders"])}}
    for s in STATUSES:
        n, before = cur["by_status"][s]["count"], prev["by_status"][s]["count"]
        orders[s.lower()] = {"count": n, "growth": growth(n, before)}
    return {
        "abandoned_cart": {"rate": rate, "change": float(half_up(Decimal(str(rate)) - Decimal(str(rate_before)), 1)),
                           "total_carts": carts["abandoned"] + cur["orders"], "abandoned_count": carts["abandoned"],
                           "recovered_count": carts["recovered"],
                           "recovered_revenue": _number(carts["recovered_revenue"])},
        "customers": {"new_customers": c["new"], "new_customers_growth": growth(c["new"], c["new_before"]),
                      "total_customers": c["total"], "total_growth": growth(c["total"], c["total_before"])},
        "active_customers": {"count": c["active"], "growth": growth(c["active"], c["active_before"])},
        "orders": orders,
        "revenue": {"total": _number(cur["revenue"]), "growth": growth(cur["revenue"], prev["revenue"])},
        "period": period,
        "last_updated": iso(utcnow()),
    }


async def dashboard_summary(period: str) -> dict[str, Any]:
    start, end = window(period)
    f = await order_figures(start, end)
    summary: dict[str, Any] = {"all_orders": {"count": f["orders"], "label": "All Orders"}}
    for s in STATUSES:
        summary[f"{s.lower()}_orders"] = {"count": f["by_status"][s]["count"], "label": STATUS_LABELS[s]}
    summary["total_revenue"] = _number(f["revenue"])
    return {"summary": summary, "period": period, "last_updated": iso(utcnow())}


async def chart_data(metric: str, period: str) -> dict[str, Any]:
    start, end = window(period)
    if metric == "new_customers_count":
        daily_c = await daily_new_customers(start, end)
        points = [{"date": d.isoformat(), "value": daily_c.get(d, 0)} for d in days(start, end)]
    else:
        daily = await daily_orders(start, end)
        if metric == "sales":
            points = [{"date": d.isoformat(), "value": f"{daily.get(d, (0, Decimal(0)))[1]:.2f}"}
                      for d in days(start, end)]
        else:
            points = [{"date": d.isoformat(), "value": daily.get(d, (0, 0))[0]} for d in days(start, end)]
    return {"chart_data": points, "metric_label": CHART_METRICS[metric], "period_label": PERIODS[period][1]}


async def recent_orders(limit: int, version_rows: list[tuple] | None = None) -> dict[str, Any]:
    """The newest orders (index ``orders_created``) with their first item and
    image, and the number of orders (trigger-kept counts). Cached per process
    (``_cached``): the versions (none given ``version_rows``, ``VERSIONS_READ``'s
    rows read with the user), then one statement unless cached."""
    return await _cached(("recent_orders", limit), lambda: _recent_orders(limit), version_rows)


async def _recent_orders(limit: int) -> dict[str, Any]:
    rows = await fetch_prepared("""
        SELECT o.id, o.order_number, o.customer_name, o.customer_email, o.total, o.status,
               to_char(o.created_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               (SELECT count(*) FROM order_item WHERE order_id = o.id),
               fi.product_name, fi.quantity, fi.unit_price,
               (SELECT COALESCE(media_url(p.main_image), (SELECT media_url(i.image_url) FROM product_image i
                                               WHERE i.product_id = p.id
                                               ORDER BY i.is_main DESC, i.position, i.id LIMIT 1))
                  FROM product p WHERE p.id = fi.product_id),
               (SELECT json_agg(json_build_object('product_name', product_name, 'quantity', quantity,
                                                  'price', to_char(unit_price, 'FM9999999999990.00')) ORDER BY id)
                  FROM order_item WHERE order_id = o.id),
               (SELECT coalesce(sum(n), 0)::bigint FROM order_status_count)
        FROM (SELECT * FROM orders ORDER BY created_at DESC, id DESC LIMIT %(limit)s) o
        LEFT JOIN LATERAL (SELECT product_name, quantity, unit_price, product_id FROM order_item
                           WHERE order_id = o.id ORDER BY id LIMIT 1) fi ON TRUE
        ORDER BY o.created_at DESC, o.id DESC""", {"limit": limit})
    out = []
    for (oid, number, name, email, total, status, created, items, first, _qty, _price, image, lines, _n) in rows:
        out.append({"id": oid, "order_number": number, "customer_name": name, "customer_email": email,
                    "user_email": email, "total": money_number(total), "status": status,
                    "status_display": STATUS_DISPLAY[status], "created_at": created, "product_image": image,
                    "items_count": items, "first_product_name": first,
                    "items": (orjson.loads(lines) if isinstance(lines, str) else lines) or []})
    if rows:
        total_count = rows[0][-1]
    else:
        total_count = (await fetch_all("SELECT coalesce(sum(n), 0)::bigint FROM order_status_count"))[0][0]
    return {"recent_orders": out, "total_count": total_count}


async def rebuild_rollups() -> None:
    """Recompute every rollup from the orders and customers (the nightly task)."""
    await fetch_all("SELECT dashboard_rollups_rebuild()")
