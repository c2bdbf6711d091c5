"""The storefront's and the dashboard's journeys, through a client generated
from ``/api/schema/`` alone (openapi-python-client; package ``avantlush_client``).

tests/client/test_generated_client.py generates the client, type-checks this
file with mypy (strict) and runs it against a live server. Nothing here knows
the API except through the generated package: a renamed field, a changed type
or a vague schema breaks the generation, the type check or the run.
"""
from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from typing import Callable, TypeVar
from uuid import UUID

import httpx
from avantlush_client import AuthenticatedClient, Client
from avantlush_client.api.account_auth import get_verify_email_token_uidb64, post_auth_login, post_auth_register
from avantlush_client.api.admin_customers import get_customers, get_customers_export, get_customers_id
from avantlush_client.api.admin_dashboard import (
    get_dashboard_cart_metrics,
    get_dashboard_order_metrics,
    get_dashboard_overview_metrics,
    get_dashboard_product_management_data,
    get_dashboard_summary_chart_data,
)
from avantlush_client.api.admin_exports import get_exports_id, get_exports_id_download
from avantlush_client.api.admin_orders import post_orders_id_tracking_add
from avantlush_client.api.admin_products import post_products
from avantlush_client.api.admin_promo_codes import post_promo_codes
from avantlush_client.api.admin_shipping_methods import post_shipping_methods
from avantlush_client.api.admin_taxonomy import post_categories
from avantlush_client.api.storefront_cart import get_cart, post_cart_add_item, post_cart_apply_discount
from avantlush_client.api.storefront_checkout import post_checkout_initiate, post_checkout_payment
from avantlush_client.api.storefront_help import get_help, post_help
from avantlush_client.api.storefront_orders import get_orders, get_orders_id, get_orders_id_tracking
from avantlush_client.api.storefront_products import get_products, get_products_id, get_products_search
from avantlush_client.api.storefront_wishlist import get_wishlist
from avantlush_client.api.storefront_wishlist_items import post_wishlist_items
from avantlush_client.models import (
    AddItemIn,
    CategoryIn,
    DiscountIn,
    Error,
    ExportStartedOut,
    GetDashboardSummaryChartDataMetric,
    InitiateIn,
    LoginIn,
    PaymentIn,
    ProductIn,
    ProductInStatus,
    PromoCodeIn,
    RegisterIn,
    ShippingMethodIn,
    TicketIn,
    TrackingIn,
    TrackingInStatus,
    WishlistItemIn,
)
from avantlush_client.types import Response

T = TypeVar("T")
TIMEOUT = httpx.Timeout(30.0)


def ok(response: Response[Error | T], status: int = 200) -> T:
    """The parsed success answer (any other status fails with the body)."""
    assert response.status_code == status, (response.status_code, response.content[:1000])
    assert response.parsed is not None and not isinstance(response.parsed, Error), response.content[:1000]
    return response.parsed


def sign_in(base_url: str, email: str, password: str, httpx_args: dict[str, object]) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, timeout=TIMEOUT, httpx_args=httpx_args)
    session = ok(post_auth_login.sync_detailed(client=anonymous, body=LoginIn(email=email, password=password)))
    assert session.user.email == email
    return AuthenticatedClient(base_url=base_url, token=session.access_token, timeout=TIMEOUT,
                               httpx_args=httpx_args)


class Shop:
    """What the admin set up for the shopper: a product, a shipping method, a promo code."""

    def __init__(self, product_id: int, product_name: str, shipping_method_id: int, promo: str) -> None:
        self.product_id, self.product_name = product_id, product_name
        self.shipping_method_id, self.promo = shipping_method_id, promo


def admin_sets_up_the_shop(admin: AuthenticatedClient) -> Shop:
    tag = uuid.uuid4().hex[:6]
    category = ok(post_categories.sync_detailed(client=admin, body=CategoryIn(name=f"Chairs {tag}")), 201)
    product = ok(post_products.sync_detailed(client=admin, body=ProductIn(
        name=f"Oak dining chair {tag}", base_price="120.00", sku=f"OAK-{tag}", category=category.id,
        stock_quantity=20, status=ProductInStatus.PUBLISHED, description="Solid oak, oiled.")), 201)
    assert product.price == "120.00"
    method = ok(post_shipping_methods.sync_detailed(client=admin, body=ShippingMethodIn(
        name=f"Standard {tag}", price="10.00", estimated_days=5)), 201)
    promo = ok(post_promo_codes.sync_detailed(client=admin, body=PromoCodeIn(
        code=f"SAVE{tag}".upper(), discount_percentage="10")), 201)
    assert isinstance(promo.code, str)  # None only for an automatic promotion (issue 22)
    return Shop(product.id, product.name, method.id, promo.code)


def storefront_journey(base_url: str, shop: Shop, verification_link: Callable[[str], str],
                       httpx_args: dict[str, object]) -> int:
    """register → verify → browse → search → wishlist → cart → promo → checkout →
    pay → order → tracking → ticket. Returns the order's id."""
    anonymous = Client(base_url=base_url, timeout=TIMEOUT, httpx_args=httpx_args)
    email, password = f"ada-{uuid.uuid4().hex[:8]}@example.com", "correct-horse-battery"

    registered = ok(post_auth_register.sync_detailed(client=anonymous, body=RegisterIn(
        email=email, password=password, full_name="Ada Lovelace")), 201)
    assert registered.user.email == email and not registered.user.is_verified
    token, uidb64 = _verification_parts(verification_link(email))
    ok(get_verify_email_token_uidb64.sync_detailed(token=token, uidb64=uidb64, client=anonymous))
    shopper = sign_in(base_url, email, password, httpx_args)

    page = ok(get_products.sync_detailed(client=anonymous, page_size=50))
    assert any(p.id == shop.product_id for p in page.results)
    product = ok(get_products_id.sync_detailed(id=shop.product_id, client=shopper))
    assert Decimal(product.price) == Decimal("120.00") and product.stock_quantity == 20
    found = ok(get_products_search.sync_detailed(client=anonymous, q="oak dining"))
    assert shop.product_id in [hit.id for hit in found.results]

    ok(post_wishlist_items.sync_detailed(client=shopper, body=WishlistItemIn(product=shop.product_id)), 201)
    wishlist = ok(get_wishlist.sync_detailed(client=shopper))
    assert [item.id for item in wishlist.products] == [shop.product_id]

    ok(post_cart_add_item.sync_detailed(client=shopper, body=AddItemIn(product_id=shop.product_id, quantity=2)), 201)
    applied = ok(post_cart_apply_discount.sync_detailed(client=shopper, body=DiscountIn(code=shop.promo)))
    assert Decimal(applied.discount_amount) == Decimal("24.00")
    cart = ok(get_cart.sync_detailed(client=shopper))
    assert Decimal(cart.total) == Decimal("216.00") and cart.items[0].quantity == 2

    quote = ok(post_checkout_initiate.sync_detailed(client=shopper, body=InitiateIn(
        shipping_address="12 Marina Road", shipping_city="Lagos", shipping_state="Lagos",
        shipping_country="Nigeria", shipping_zip="101001", shipping_method_id=shop.shipping_method_id)))
    assert Decimal(quote.total) == Decimal("226.00")
    key = str(uuid.uuid4())
    paid = ok(post_checkout_payment.sync_detailed(client=shopper, body=PaymentIn(payment_method_id="pm_card_visa"),
                                                  idempotency_key=key))
    assert paid.success and Decimal(paid.amount) == Decimal("226.00")
    again = post_checkout_payment.sync_detailed(client=shopper, body=PaymentIn(payment_method_id="pm_card_visa"),
                                                idempotency_key=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and ok(again).order_id == paid.order_id

    order = ok(get_orders_id.sync_detailed(id=paid.order_id, client=shopper))
    assert order.payment_status == "PAID" and order.order_number == paid.order_number
    assert [line.quantity for line in order.items] == [2]
    mine = ok(get_orders.sync_detailed(client=shopper))
    assert [o.id for o in mine.results] == [paid.order_id]
    tracking = ok(get_orders_id_tracking.sync_detailed(id=paid.order_id, client=shopper))
    assert isinstance(tracking, list)

    ticket = ok(post_help.sync_detailed(client=shopper, body=TicketIn(
        subject=f"Where is {paid.order_number}?", message="When will my chairs arrive?")), 201)
    tickets = ok(get_help.sync_detailed(client=shopper))
    assert [t.id for t in tickets] == [ticket.id]
    return paid.order_id


def admin_journey(admin: AuthenticatedClient, order_id: int) -> None:
    """Dashboard metrics, orders (tracking added), customers, products, an export."""
    overview = ok(get_dashboard_overview_metrics.sync_detailed(client=admin))
    assert overview.orders.all_orders.count >= 1 and overview.revenue.total >= 226.0
    metrics = ok(get_dashboard_order_metrics.sync_detailed(client=admin))
    assert Decimal(metrics.data.total_revenue) >= Decimal("226.00")
    carts = ok(get_dashboard_cart_metrics.sync_detailed(client=admin))
    assert 0.0 <= carts.data.abandoned_rate <= 1.0
    chart = ok(get_dashboard_summary_chart_data.sync_detailed(
        client=admin, metric=GetDashboardSummaryChartDataMetric.SALES))
    assert len(chart.chart_data) == 7

    orders = ok(get_orders.sync_detailed(client=admin))
    assert order_id in [o.id for o in orders.results]
    event = ok(post_orders_id_tracking_add.sync_detailed(id=order_id, client=admin, body=TrackingIn(
        status=TrackingInStatus.SHIPPED, location="Lagos hub", description="Left the warehouse")))
    assert event.status == "SHIPPED"

    customers = ok(get_customers.sync_detailed(client=admin, search="ada-"))
    assert customers.count >= 1
    customer = ok(get_customers_id.sync_detailed(id=customers.results[0].id, client=admin))
    assert customer.email.startswith("ada-")

    table = ok(get_dashboard_product_management_data.sync_detailed(client=admin))
    assert table.pagination.total_count >= 1 and table.tab_counts.all_ >= 1

    started = get_customers_export.sync_detailed(client=admin, async_=True)
    assert started.status_code == 202, started.content[:500]
    job_id = _export_id(started.parsed)
    deadline = time.monotonic() + 60
    while (job := ok(get_exports_id.sync_detailed(id=job_id, client=admin))).status not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job.status == "done", job.error
    csv = ok(get_exports_id_download.sync_detailed(id=job_id, client=admin))
    assert "ada-" in csv


def _export_id(parsed: object) -> UUID:
    assert isinstance(parsed, ExportStartedOut), parsed
    return UUID(parsed.id)


def _verification_parts(link: str) -> tuple[str, str]:
    """The token and user id of a verification link (the API's path, or the storefront's page)."""
    path = re.search(r"verify-email/([^/?#\s]+)/([^/?#\s]+)", link)
    if path:
        return path.group(1), path.group(2)
    token, uid = re.search(r"[?&]token=([^&#\s]+)", link), re.search(r"[?&]uid(?:b64)?=([^&#\s]+)", link)
    assert token and uid, link
    return token.group(1), uid.group(1)

