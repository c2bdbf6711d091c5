"""Email tasks: render, then deliver by SMTP (or to DATA_DIR/mail)."""
from __future__ import annotations

import smtplib
import socket

import settings
from celery_app import app
from models.accounts import tokens
from models.accounts.tables import User
from models.core.mail import send
from tasks._runner import run_async

RETRY = dict(autoretry_for=(smtplib.SMTPException, socket.error, OSError), retry_backoff=True,
             retry_backoff_max=600, max_retries=8, acks_late=True)


async def _user(user_id: int) -> User | None:
    return await User.aio_get_or_none(User.id == user_id)


# The broker carries the id of the one-time token row only; the link's token is
# derived here from the row (models.accounts.tokens.link_token), so Redis never holds a
# usable credential. A link that died meanwhile (used, superseded, expired,
# address changed) is not sent.

@app.task(**RETRY)
def send_verification_email(token_id: int) -> str | None:
    found = run_async(tokens.one_time_link, token_id)
    if found is None:
        return None
    address, token, user = found
    # The storefront's page, which POSTs to /api/verify-email/…: never a GET that changes state.
    link = f"{settings.FRONTEND_URL}/verify-email/{token}/{tokens.uid_encode(user.id)}/"
    return send(address, "verification", email=address, name=user.full_name, link=link)


@app.task(**RETRY)
def send_password_reset_email(token_id: int) -> str | None:
    found = run_async(tokens.one_time_link, token_id)
    if found is None:
        return None
    address, token, user = found
    # The storefront's page asks for the new password and POSTs it to
    # /api/reset-password/<uidb64>/<token>/.
    link = f"{settings.FRONTEND_URL}/reset-password/{tokens.uid_encode(user.id)}/{token}/"
    return send(address, "password_reset", email=address, link=link)


@app.task(**RETRY)
def send_email_changed_notice(user_id: int, old_email: str) -> str | None:
    """Tell the previous address that the account's email changed."""
    user = run_async(_user, user_id)
    if user is None:
        return None
    return send(old_email, "email_changed", email=old_email, new_email=user.email, name=user.full_name,
                link=f"{settings.FRONTEND_URL}/forgot-password/")


@app.task(**RETRY)
def send_waitlist_confirmation(email: str) -> str:
    return send(email, "waitlist", email=email)
