"""Email tasks: render, then deliver by SMTP (or to DATA_DIR/mail)."""
from __future__ import annotations

import smtplib
import socket

import settings
from celery_app import app
from models import auth
from models.accounts import User
from models.mail import send
from tasks._runner import run_async

RETRY = dict(autoretry_for=(smtplib.SMTPException, socket.error, OSError), retry_backoff=True,
             retry_backoff_max=600, max_retries=8, acks_late=True)


async def _user(user_id: int) -> User | None:
    return await User.aio_get_or_none(User.id == user_id)


@app.task(**RETRY)
def send_verification_email(user_id: int, token: str) -> str | None:
    user = run_async(_user, user_id)
    if user is None:
        return None
    link = f"{settings.BACKEND_URL}/api/verify-email/{token}/{auth.uid_encode(user.id)}/"
    return send(user.email, "verification", email=user.email, name=user.full_name, link=link)


@app.task(**RETRY)
def send_password_reset_email(user_id: int, token: str) -> str | None:
    user = run_async(_user, user_id)
    if user is None:
        return None
    # The storefront's page asks for the new password and POSTs it to
    # /api/reset-password/<uidb64>/<token>/.
    link = f"{settings.FRONTEND_URL}/reset-password/{auth.uid_encode(user.id)}/{token}/"
    return send(user.email, "password_reset", email=user.email, link=link)


@app.task(**RETRY)
def send_waitlist_confirmation(email: str) -> str:
    return send(email, "waitlist", email=email)
