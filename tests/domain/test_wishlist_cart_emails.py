"""The back-in-stock, price-drop and cart-reminder emails render what they must."""
from __future__ import annotations

from models.core import mail


def test_back_in_stock_names_the_product_and_links_to_it():
    _, html, text = mail.render("back_in_stock", name="Ada", product_name="Oak <Chair>", price="99.99",
                                image=None, link="http://shop.test/products/7")
    assert "Oak &lt;Chair&gt;" in html and "Oak <Chair>" in text
    assert "http://shop.test/products/7" in html and "99.99" in text


def test_price_drop_shows_old_and_new_price():
    _, html, text = mail.render("price_drop", name="", product_name="Sofa", old_price="500.00",
                                new_price="450.00", image=None, link="http://shop.test/products/1")
    assert "500.00" in html and "450.00" in html and "now costs 450.00 (was 500.00)" in text


def test_cart_reminder_lists_the_items_and_the_restore_link():
    items = [{"name": "Lamp (Red)", "quantity": 2, "price": "15.00", "image": None},
             {"name": "Rug", "quantity": 1, "price": "80.00", "image": "http://x/r.jpg"}]
    subject, html, text = mail.render("cart_reminder", name="Ada", number=2, items=items, subtotal="110.00",
                                      link="http://testserver/api/cart/restore/tok/",
                                      subject="Your cart is still waiting for you")
    assert subject == "Your cart is still waiting for you"
    assert "Still thinking it over?" in text and "Lamp (Red) x 2: 15.00" in text and "Subtotal: 110.00" in text
    assert "http://testserver/api/cart/restore/tok/" in html and "http://x/r.jpg" in html
