"""The support email template renders in HTML and text, escaped."""
from __future__ import annotations

from models.core import mail

CTX = {"name": "Ada Obi", "ticket_id": 7, "ticket_subject": "Late order", "status_label": "In progress",
       "link": "http://shop.test/account/support/7"}


def test_support_update_renders_a_reply_in_html_and_text():
    subject, html, text = mail.render("support_update", reply="It ships <today>.", **CTX)
    assert subject == mail.SUBJECTS["support_update"]
    assert "<html" in html.lower() and "AvantLush" in html and "AvantLush" in text
    assert "It ships &lt;today&gt;." in html and "It ships <today>." in text
    assert "In progress" in html and "In progress" in text
    assert CTX["link"] in html and CTX["link"] in text
    assert "#7" in html and "#7" in text and "<p" not in text


def test_support_update_without_a_reply_states_the_status_only():
    _, html, text = mail.render("support_update", reply="", **CTX)
    assert "replied" not in text and "In progress" in text


def test_subject_can_name_the_ticket():
    subject, _, _ = mail.render("support_update", subject="Update on your support ticket #7", reply="", **CTX)
    assert subject == "Update on your support ticket #7"
