"""The shipment and return emails render (HTML and text) with what their
tasks read (models/fulfilment/notify.py)."""
from __future__ import annotations

import pytest

from models.core import mail

ORDER = {"id": 7, "order_number": "ORD-20261207-0007", "customer_name": "Ada", "customer_email": "ada@example.com"}


def test_shipment_email_names_carrier_tracking_number_and_page():
    shipment = {"id": 3, "status": "shipped", "status_display": "on its way", "carrier": "UPS",
                "tracking_number": "1Z999", "tracking_url": "https://www.ups.com/track?tracknum=1Z999",
                "lines": [{"name": "Oak Chair", "quantity": 2}]}
    subject, html, text = mail.render("shipment_update", **ORDER, shipment=shipment)
    assert subject == "Your order ORD-20261207-0007: shipment 3 is on its way"
    for body in (html, text):
        assert "1Z999" in body and "https://www.ups.com/track?tracknum=1Z999" in body and "Oak Chair" in body
    assert "<a " not in text


@pytest.mark.parametrize("status", ["corrected", "cancelled"])
def test_shipment_correction_and_cancellation_emails(status):
    from models.fulfilment.notify import STATUS_DISPLAY

    shipment = {"id": 3, "status": status, "status_display": STATUS_DISPLAY[status], "carrier": "UPS",
                "tracking_number": "1Z999", "tracking_url": "https://www.ups.com/track?tracknum=1Z999",
                "lines": [{"name": "Oak Chair", "quantity": 2}]}
    subject, html, text = mail.render("shipment_update", **ORDER, shipment=shipment)
    assert subject == f"Your order ORD-20261207-0007: shipment 3 is {STATUS_DISPLAY[status]}"
    for body in (html, text):
        assert "Oak Chair" in body
        # A cancelled parcel's tracking number is void: not shown again.
        assert ("1Z999" in body) == (status == "corrected")
        assert ("wrong" in body) == (status == "corrected") and ("new tracking number" in body) == (status == "cancelled")


@pytest.mark.parametrize("status", ["requested", "approved", "rejected", "received", "refunded"])
def test_return_email_at_each_step(status):
    ret = {"id": 4, "status": status, "headline": f"Headline {status}", "reason": "Wobbly", "note": "Thanks <3",
           "refund_amount": "100.00" if status == "refunded" else "", "restocking_fee": "20.00",
           "lines": [{"name": "Oak Chair", "quantity": 1}]}
    subject, html, text = mail.render("return_update", **ORDER, ret=ret)
    assert subject == f"Return 4 of your order ORD-20261207-0007: {status}"
    assert f"Headline {status}" in html and f"Headline {status}" in text
    assert "Thanks &lt;3" in html  # escaped
    assert ("100.00" in text and "20.00" in text) == (status == "refunded")
