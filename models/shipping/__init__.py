"""Shipping methods: the table, delivery dates in business days, staff CRUD.

Other domains (checkout, orders) use ``get_shipping_method`` and
``delivery_date``.
"""
from models.shipping.actions import (  # noqa: F401
    create_shipping_method,
    delete_shipping_method,
    delivery_date,
    get_shipping_method,
    list_shipping_methods,
    shipping_payload,
    update_shipping_method,
)
from models.shipping.tables import ShippingMethod  # noqa: F401
