"""Order tables (migrations/0008_orders.sql holds the constraints and indexes).

``Order.order_number`` has a database default (``next_order_number``, from a
sequence): insert without it and read it back with ``RETURNING``.
The other order-side tables (order_tracking, stock_movement,
order_status_count, kept by triggers) are read and written in SQL only
(models/orders/queries.py, stock.py); migrations/ is their one definition.
"""
from __future__ import annotations

import peewee as pw
from playhouse.postgres_ext import BinaryJSONField

from models.accounts.tables import Customer, User
from models.catalog.tables import Product, ProductVariation
from models.core.db import BaseModel, MoneyField, utcnow

# The one list of order and payment statuses and of their legal changes. The
# CHECK constraints of migrations/0013_order_lifecycle.sql are their SQL twins
# (tests/domain/test_order_rules.py checks they agree); handlers, dashboard and
# export read these.
STATUSES = ("PENDING", "PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED", "DAMAGED",
            "REFUNDED")
# "Partially Shipped": the SQL twin is initcap(replace(status, '_', ' ')) (models/orders/queries.py).
STATUS_DISPLAY = {s: s.replace("_", " ").title() for s in STATUSES}
PAYMENT_STATUSES = ("PENDING", "PAID", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED")
PAYMENT_STATUS_DISPLAY = {s: s.replace("_", " ").capitalize() for s in PAYMENT_STATUSES}
# Paid: the money came in (some or all of it may have gone back since). SQL
# twin: order_is_paid(). Revenue counts these orders only, less refunds.
PAID_PAYMENT_STATUSES = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")
# Payment statuses that only the refund action sets (models/payments): staff
# cannot type them in (a refund must reach the provider).
REFUND_PAYMENT_STATUSES = ("PARTIALLY_REFUNDED", "REFUNDED")
REFUND_STATUSES = ("REFUNDED",)
REFUND_ENDPOINT = "POST /api/orders/{id}/refund/"

PAYMENT_TYPES = {"CASH": "Cash", "CREDIT": "Credit Card", "DEBIT": "Debit Card", "TRANSFER": "Bank Transfer"}
ORDER_TYPES = {"STANDARD": "Standard", "EXPRESS": "Express", "PICKUP": "Pickup"}

# Legal order status changes (CONTRACT: nothing leaves CANCELLED, DELIVERED
# never goes back). Setting the current status again is a no-op, not an error.
# PARTIALLY_SHIPPED, SHIPPED, DELIVERED follow from the order's shipments
# (models/fulfilment/shipments.py) when it has any; staff may still set them.
# REFUNDED: a fully refunded order has left the fulfilment flow (set by the
# refund action only, REFUND_STATUSES; it cannot be shipped after). A
# cancelled order stays CANCELLED when its payment is refunded.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "PENDING": ("PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"),
    "PROCESSING": ("PARTIALLY_SHIPPED", "SHIPPED", "DELIVERED", "CANCELLED", "REFUNDED"),
    "PARTIALLY_SHIPPED": ("SHIPPED", "DELIVERED", "DAMAGED", "REFUNDED"),
    "SHIPPED": ("DELIVERED", "RETURNED", "DAMAGED", "REFUNDED"),
    "DELIVERED": ("RETURNED", "DAMAGED", "REFUNDED"),
    "DAMAGED": ("RETURNED", "REFUNDED"),
    "RETURNED": ("REFUNDED",),
    "CANCELLED": (),
    "REFUNDED": (),
}
# Steps back that only a cancelled shipment makes (models/fulfilment/shipments.py
# ``cancel_shipment``: its units are not shipped any more): never offered to
# staff, whose illegal transitions stay 400 (TRANSITIONS above).
SHIPMENT_UNDO: dict[str, tuple[str, ...]] = {
    "SHIPPED": ("PARTIALLY_SHIPPED", "PROCESSING"),
    "PARTIALLY_SHIPPED": ("PROCESSING",),
}
# Payment status changes. Staff may record a manual (cash, transfer) payment
# as PAID or FAILED; PARTIALLY_REFUNDED and REFUNDED come from the refund
# action only (REFUND_PAYMENT_STATUSES).
PAYMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "PENDING": ("PAID", "FAILED"),
    "FAILED": ("PAID", "PENDING"),
    "PAID": ("PARTIALLY_REFUNDED", "REFUNDED"),
    "PARTIALLY_REFUNDED": ("REFUNDED",),
    "REFUNDED": (),
}


class Order(BaseModel):
    order_number = pw.CharField(max_length=32, unique=True)  # DB default: next_order_number()
    user = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="orders")
    customer = pw.ForeignKeyField(Customer, null=True, on_delete="SET NULL", backref="orders")
    customer_name = pw.CharField(max_length=255, default="")
    customer_email = pw.CharField(max_length=254, default="")
    status = pw.CharField(max_length=20, default="PENDING")
    payment_status = pw.CharField(max_length=20, default="PENDING")
    payment_type = pw.CharField(max_length=10, default="CREDIT")
    order_type = pw.CharField(max_length=10, default="STANDARD")
    payment_method = pw.CharField(max_length=50, default="")
    subtotal = MoneyField(default=0)
    discount = MoneyField(default=0)
    shipping_cost = MoneyField(default=0)
    tax = MoneyField(default=0)
    total = MoneyField(default=0)
    shipping_address = pw.TextField(default="")
    shipping_city = pw.CharField(max_length=100, default="")
    shipping_state = pw.CharField(max_length=100, default="")
    shipping_country = pw.CharField(max_length=100, default="")
    shipping_zip = pw.CharField(max_length=20, default="")
    billing_address = pw.TextField(default="")
    shipping_method_id = pw.IntegerField(null=True)
    promo_code_id = pw.IntegerField(null=True)
    estimated_delivery_date = pw.DateField(null=True)
    note = pw.TextField(default="")
    stock_held = pw.BooleanField(default=False)  # cleared once, when stock is given back
    promo_held = pw.BooleanField(default=False)  # cleared once, when the promo use is given back
    reserved_until = pw.DateTimeField(null=True)  # an unpaid order expires then (NULL: never)
    refunded_amount = MoneyField(default=0)  # written by the refund action
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "orders"


class OrderItem(BaseModel):
    order = pw.ForeignKeyField(Order, on_delete="CASCADE", backref="items")
    product = pw.ForeignKeyField(Product, null=True, on_delete="SET NULL")
    variation = pw.ForeignKeyField(ProductVariation, null=True, on_delete="SET NULL")
    product_name = pw.CharField(max_length=255)
    product_sku = pw.CharField(max_length=64, default="")
    variants = BinaryJSONField(default=dict, index=False)
    quantity = pw.IntegerField()
    unit_price = MoneyField()
    total_price = MoneyField()


class Payment(BaseModel):
    order = pw.ForeignKeyField(Order, on_delete="CASCADE", backref="payments")
    user = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    provider = pw.CharField(max_length=20)
    method = pw.CharField(max_length=50, default="")
    amount = MoneyField()
    currency = pw.CharField(max_length=3, default="USD")
    status = pw.CharField(max_length=20, default="PENDING")
    transaction_id = pw.CharField(max_length=255, null=True)
    capture_reference = pw.CharField(max_length=255, null=True)  # what a refund names, when not transaction_id
    failure_message = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)





class Checkout(BaseModel):
    id = pw.CharField(max_length=40, primary_key=True)
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    shipping_method_id = pw.IntegerField(null=True)
    promo_code_id = pw.IntegerField(null=True)
    payment_method = pw.CharField(max_length=20, default="stripe")
    quote = BinaryJSONField(default=dict, index=False)
    shipping_address = BinaryJSONField(default=dict, index=False)
    status = pw.CharField(max_length=10, default="open")  # open | awaiting (hosted payment) | completed
    order = pw.ForeignKeyField(Order, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

