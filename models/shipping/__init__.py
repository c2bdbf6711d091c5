"""Shipping: methods, delivery dates in business days, zones and rates
(``quote_shipping``: what a method costs to a destination), delivery slots for
bulky items, staff CRUD.

Other domains (cart, checkout, orders) use ``get_shipping_method``,
``delivery_date``, ``quote_shipping``/``Destination``/``Parcel`` and the slots.
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
from models.shipping.slots import (  # noqa: F401
    OWN_DELIVERY,
    SlotUnavailable,
    available_dates,
    book_slot,
    check_date,
    check_window,
    first_date,
    needs_slot,
    plan_delivery,
    release_slot,
)
from models.shipping.tables import ShippingMethod, ShippingRate, ShippingZone  # noqa: F401
from models.shipping.zones import (  # noqa: F401
    Destination,
    Parcel,
    PostalRule,
    Zone,
    load_rules,
    quote_shipping,
    shipping_offers,
)
