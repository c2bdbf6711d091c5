"""Order email templates: confirmation, admin notice, status and tracking updates."""
from __future__ import annotations

import pytest

import settings
from models.core import mail

ORDER = {
    "id": 7, "order_number": "ORD-20240120-0001", "customer_name": "Ada <b>Obi</b>",
    "customer_email": "ada@example.com", "status": "SHIPPED", "status_display": "Shipped",
    "payment_status": "PAID", "subtotal": "199.98", "discount": "10.00", "shipping_cost": "4.99", "tax": "0.00",
    "total": "194.97", "shipping_address": "123 Main St", "shipping_city": "Lagos", "shipping_country": "Nigeria",
    "created_at": "2024-01-20 10:30",
    "items": [{"name": "Handmade Pouch", "quantity": 2, "unit_price": "99.99", "total_price": "199.98"}],
    "event": {"status": "SHIPPED", "status_display": "Shipped", "location": "Lagos Hub",
              "description": "Left the warehouse", "timestamp": "2024-01-21 08:00"},
}
ORDER_TEMPLATES = ["admin_new_order", "order_confirmation", "order_status", "order_tracking"]


@pytest.mark.parametrize("name", ORDER_TEMPLATES)
def test_order_template_renders_html_and_text(name):
    subject, html, text = mail.render(name, **ORDER)
    assert "ORD-20240120-0001" in subject
    assert "ORD-20240120-0001" in html and "ORD-20240120-0001" in text
    assert "<html" in html.lower() and "<p" not in text
    assert "<b>Obi</b>" not in html  # customer data is escaped in HTML


def test_confirmation_lists_items_and_totals():
    _, html, text = mail.render("order_confirmation", **ORDER)
    for part in ("Handmade Pouch", "194.97", "199.98", "-10.00", f"{settings.FRONTEND_URL}/orders/7"):
        assert part in text and part in html


def test_status_and_tracking_say_what_changed():
    assert "Shipped" in mail.render("order_status", **ORDER)[2]
    _, _, text = mail.render("order_tracking", **ORDER)
    assert "Lagos Hub" in text and "Left the warehouse" in text


def test_confirmation_names_the_promotion_that_priced_the_order():
    lines = [{"label": "SPRING", "name": "Spring <i>sale</i>", "code": None, "description": "15.00% off",
              "amount": "30.00", "shipping_discount": "0.00"},
             {"label": "SHIPFREE", "name": "SHIPFREE", "code": "SHIPFREE", "description": "Free shipping (saves 4.99)",
              "amount": "0.00", "shipping_discount": "4.99"}]
    _, html, text = mail.render("order_confirmation", **{**ORDER, "discount_lines": lines})
    assert "Spring <i>sale</i> (15.00% off): -30.00" in text
    assert "Promo code SHIPFREE (Free shipping (saves 4.99)): shipping -4.99" in text
    assert "Spring &lt;i&gt;sale&lt;/i&gt;" in html and "-30.00" in html and "shipping -4.99" in html
    assert "Discount: -10.00" not in text  # the lines replace the bare total
    assert "Discount: -10.00" in mail.render("order_confirmation", **{**ORDER, "discount_lines": []})[2]


def test_payment_not_completed_says_not_placed_nothing_charged_and_links_the_cart():
    ctx = {**ORDER, "status": "CANCELLED", "cart_url": f"{settings.FRONTEND_URL}/cart", "minutes": 30}
    subject, html, text = mail.render("payment_not_completed", **ctx)
    assert subject == "Your payment was not completed: order ORD-20240120-0001 was not placed"
    for part in ("Nothing was charged", f"{settings.FRONTEND_URL}/cart", "Handmade Pouch", "30 minutes",
                 "ORD-20240120-0001", "194.97"):
        assert part in text and part in html
    assert "<b>Obi</b>" not in html and "<html" in html.lower() and "<p" not in text
    assert "within 1 minute," in mail.render("payment_not_completed", **{**ctx, "minutes": 1})[2]
