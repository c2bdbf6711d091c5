"""Emails: rendered from Jinja2 templates in ``emails/`` (HTML + text) and
delivered by SMTP, or written as ``.eml`` files under ``DATA_DIR/mail/`` when
``SMTP_HOST`` is unset. Delivery is blocking: only Celery tasks call it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2
import jinja2.meta

import settings

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(settings.ROOT / "emails")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)

SUBJECTS = {
    "verification": "Verify your AvantLush email address",
    "password_reset": "Reset your AvantLush password",
    "waitlist": "You're on the AvantLush waitlist!",
    "support_update": "Update on your AvantLush support ticket",
    "order_confirmation": "Your AvantLush order {order_number}",
    "admin_new_order": "New order {order_number} ({total})",
    "order_status": "Your order {order_number} is {status_display}",
    "order_tracking": "Update on your order {order_number}",
    "payment_not_completed": "Your payment was not completed: order {order_number} was not placed",
    "back_in_stock": "Back in stock at AvantLush",
    "price_drop": "A price drop on your AvantLush wishlist",
    "cart_reminder": "You left something in your AvantLush cart",
    "email_changed": "The email address of your AvantLush account was changed",
    "shipment_update": "Your order {order_number}: shipment {shipment[id]} is {shipment[status_display]}",
    "return_update": "Return {ret[id]} of your order {order_number}: {ret[status]}",
}


def render(name: str, /, **ctx: object) -> tuple[str, str, str]:
    """Render template ``name``: returns (subject, html, text).

    ``name`` is positional-only: templates take a ``name`` variable (the recipient's).
    """
    ctx.setdefault("frontend_url", settings.FRONTEND_URL)
    ctx.setdefault("year", dt.date.today().year)
    subject = str(ctx.pop("subject", None) or SUBJECTS[name].format(**ctx))
    html = _env.get_template(f"{name}.html").render(subject=subject, **ctx)
    text = _env.get_template(f"{name}.txt").render(subject=subject, **ctx)
    return subject, html, text


def build_message(to: str | list[str], subject: str, html: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.EMAIL_FROM
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    key = _job_key(msg["To"], subject)
    msg["Message-ID"] = f"<{key}@avantlush.com>" if key else make_msgid(domain="avantlush.com")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def deliver(msg: EmailMessage) -> str:
    """Send ``msg``; returns where it went (``smtp:<host>`` or the .eml path)."""
    if settings.SMTP_HOST:
        with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=20) as smtp:
            if settings.SMTP_STARTTLS:
                smtp.starttls(context=ssl.create_default_context())
            if settings.SMTP_USER:
                smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD or "")
            smtp.send_message(msg)
        return f"smtp:{settings.SMTP_HOST}"
    settings.MAIL_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    key = _job_key(msg["To"], msg["Subject"])
    if key:
        sent = sorted(settings.MAIL_DIR.glob(f"*-{key}.eml"))
        if sent:  # this job already wrote it (its worker died before the job was marked done)
            return str(sent[0])
    path = settings.MAIL_DIR / f"{stamp}-{key or uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_suffix(".part")
    tmp.write_bytes(bytes(msg))
    tmp.replace(path)  # readers never see half a file
    return str(path)


def _job_key(to: str, subject: str) -> str | None:
    """A key stable across re-runs of the same outbox job (None outside one):
    the Message-ID, and the file name that makes a re-run a no-op."""
    from models.core.jobs import current_job

    job = current_job.get()
    if job is None:
        return None
    return hashlib.sha256(f"{job}\n{to}\n{subject}".encode()).hexdigest()[:24]


def send(to: str | list[str], name: str, /, **ctx: object) -> str:
    subject, html, text = render(name, **ctx)
    return deliver(build_message(to, subject, html, text))


# --- previews (the /preview_email/ page): every template, with sample data -------------

class _Placeholder(jinja2.Undefined):
    """What a preview shows for a variable it has no sample for: ``[name]``;
    attributes and items of it are placeholders too, loops run once."""

    def __str__(self) -> str:
        return f"[{self._undefined_name}]"

    def __getattr__(self, name: str) -> "_Placeholder":
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder(name=name)

    def __getitem__(self, key: object) -> "_Placeholder":
        return _Placeholder(name=str(key))

    def __iter__(self):
        yield _Placeholder(name=f"{self._undefined_name} item")

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True


_preview_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(settings.ROOT / "emails")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=_Placeholder,
)

# Sample values by variable name; a template may declare its own in emails/<name>.sample.json.
SAMPLES = {
    "email": "ada@example.com", "name": "Ada Lovelace", "full_name": "Ada Lovelace",
    "link": f"{settings.FRONTEND_URL}/example-link", "url": f"{settings.FRONTEND_URL}/example-link",
}


def template_names() -> list[str]:
    """Every email: a template with both an ``.html`` and a ``.txt`` part."""
    folder = settings.ROOT / "emails"
    return sorted(p.stem for p in folder.glob("*.html") if (folder / f"{p.stem}.txt").exists())


def sample_context(name: str) -> dict:
    import json

    ctx: dict = {"frontend_url": settings.FRONTEND_URL, "year": dt.date.today().year}
    source = _preview_env.loader.get_source(_preview_env, f"{name}.html")[0]
    for var in jinja2.meta.find_undeclared_variables(_preview_env.parse(source)):
        if var in SAMPLES:
            ctx[var] = SAMPLES[var]
    declared = settings.ROOT / "emails" / f"{name}.sample.json"
    if declared.exists():
        ctx.update(json.loads(declared.read_text()))
    return ctx


def render_preview(name: str, **overrides: object) -> tuple[str, str]:
    """(subject, html) of template ``name`` with sample data (``overrides`` win)."""
    if name not in template_names():
        raise KeyError(name)
    ctx = {**sample_context(name), **{k: v for k, v in overrides.items() if v}}
    subject = str(ctx.pop("subject", None) or SUBJECTS.get(name) or name.replace("_", " ").capitalize())
    return subject, _preview_env.get_template(f"{name}.html").render(subject=subject, **ctx)
