"""Email templates and delivery (SMTP, or .eml files when SMTP is not configured)."""
from __future__ import annotations

import email
import socket
from email import policy

import jinja2
import pytest

import settings
from models.core import mail

TEMPLATES_DIR = settings.ROOT / "emails"
CONTEXT = {"email": "ada@example.com", "name": "Ada Obi", "link": "http://testserver/api/verify-email/tok/MQ/"}
# What templates need beyond CONTEXT.
TEMPLATE_CONTEXT = {
    "back_in_stock": {"product_name": "Oak Chair", "price": "99.99", "image": "http://testserver/media/a.jpg"},
    "price_drop": {"product_name": "Oak Chair", "old_price": "120.00", "new_price": "99.99", "image": None},
    "cart_reminder": {"number": 1, "subtotal": "199.98",
                      "items": [{"name": "Oak Chair", "quantity": 2, "price": "99.99", "image": None}]},
}


def template_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.html") if p.stem != "base")


def test_every_template_has_html_text_and_a_subject():
    names = template_names()
    assert {"verification", "password_reset", "waitlist"} <= set(names)
    for name in names:
        assert (TEMPLATES_DIR / f"{name}.txt").exists(), name
        assert name in mail.SUBJECTS, name


# Account emails share one context; other templates have their own render tests
# (tests/domain/test_order_emails.py).
ACCOUNT_TEMPLATES = ["email_changed", "password_reset", "verification", "waitlist"]


@pytest.mark.parametrize("name", ACCOUNT_TEMPLATES)
def test_template_renders_html_and_text(name):
    subject, html, text = mail.render(name, **CONTEXT, **TEMPLATE_CONTEXT.get(name, {}))
    assert subject == mail.SUBJECTS[name]
    assert "<html" in html.lower() and "</html>" in html.lower()
    assert "AvantLush" in html and "AvantLush" in text
    assert "<p" not in text and "<a " not in text  # plain text, no markup
    if name != "waitlist":
        assert CONTEXT["link"] in html and CONTEXT["link"] in text
    else:
        assert settings.FRONTEND_URL in html and settings.FRONTEND_URL in text
        assert "waitlist" in html and "waitlist" in text


def test_verification_email_greets_by_name():
    _, html, text = mail.render("verification", **CONTEXT)
    assert "Ada Obi" in html and "Ada Obi" in text


def test_html_templates_escape_user_data():
    _, html, _ = mail.render("verification", email="x@example.com", name="<script>alert(1)</script>",
                             link="http://testserver/v/")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_missing_template_variable_fails_loudly():
    with pytest.raises(jinja2.UndefinedError):
        mail.render("password_reset", email="x@example.com")


def test_subject_can_be_overridden():
    subject, html, _ = mail.render("waitlist", email="x@example.com", subject="Custom subject")
    assert subject == "Custom subject"
    assert "Custom subject" in html


def test_without_smtp_host_mail_is_written_as_eml(monkeypatch):
    monkeypatch.setattr(settings, "SMTP_HOST", None)
    where = mail.send("ada@example.com", "verification", **CONTEXT)
    assert where.endswith(".eml") and where.startswith(str(settings.MAIL_DIR))
    msg = email.message_from_bytes(open(where, "rb").read(), policy=policy.default)
    assert msg["To"] == "ada@example.com"
    assert msg["Subject"] == mail.SUBJECTS["verification"]
    assert CONTEXT["link"] in msg.get_body(preferencelist=("plain",)).get_content()
    assert CONTEXT["link"] in msg.get_body(preferencelist=("html",)).get_content()
    assert not list(settings.MAIL_DIR.glob("*.part"))


# --- SMTP ------------------------------------------------------------------------

class Recorder:
    """aiosmtpd handler that keeps every envelope it receives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch):
    from aiosmtpd.controller import Controller

    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setattr(settings, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setattr(settings, "SMTP_PORT", controller.port)
    monkeypatch.setattr(settings, "SMTP_STARTTLS", False)
    monkeypatch.setattr(settings, "SMTP_USER", None)
    yield recorder
    controller.stop()


def test_send_delivers_over_smtp(smtp_server):
    where = mail.send("ada@example.com", "password_reset", email="ada@example.com",
                      link="http://shop.test/reset-password/MQ/tok/")
    assert where == "smtp:127.0.0.1"
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert envelope.mail_from == "no-reply@avantlush.com"
    msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert msg["Subject"] == mail.SUBJECTS["password_reset"]
    assert msg["From"] == settings.EMAIL_FROM
    assert msg["Message-ID"]
    assert "http://shop.test/reset-password/MQ/tok/" in msg.get_body(preferencelist=("plain",)).get_content()
    assert "http://shop.test/reset-password/MQ/tok/" in msg.get_body(preferencelist=("html",)).get_content()
    assert not settings.MAIL_DIR.exists() or not list(settings.MAIL_DIR.glob("*.eml"))


def test_send_to_several_recipients_over_smtp(smtp_server):
    mail.send(["a@example.com", "b@example.com"], "waitlist", email="")
    [envelope] = smtp_server.envelopes
    assert sorted(envelope.rcpt_tos) == ["a@example.com", "b@example.com"]
