"""The pre-launch waitlist: signup, duplicates, confirmation email, preview page."""
from __future__ import annotations

import shutil

import pytest

import settings
from models.accounts.tables import WaitlistEntry
from tests.support.mail import mail_body, wait_for_mail


@pytest.fixture
def mailbox(celery_worker):
    """The real worker with no earlier task queued or running, and no mail yet."""
    from celery_app import app as celery

    celery.control.purge()
    celery.control.ping(timeout=10, limit=1)  # the solo worker answers between tasks
    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)
    return settings.MAIL_DIR


@pytest.mark.gen_test
async def test_waitlist_signup_returns_201_with_spec_shape(api):
    resp = await api.post("/api/waitlist/signup/", json={"email": "Early.Bird@Example.com"})
    assert resp.status == 201, resp
    body = resp.json()
    assert body["message"] == "Successfully joined the waitlist!"
    assert body["data"]["email"] == "early.bird@example.com"
    assert body["data"]["created_at"].endswith("Z")
    assert await WaitlistEntry.select().where(WaitlistEntry.email == "early.bird@example.com").aio_exists()


@pytest.mark.gen_test
async def test_waitlist_duplicate_email_is_400(api):
    assert (await api.post("/api/waitlist/signup/", json={"email": "twice@example.com"})).status == 201
    resp = await api.post("/api/waitlist/signup/", json={"email": "TWICE@example.com"})
    assert resp.status == 400, resp
    body = resp.json()
    assert body["status"] == "error" and body["success"] is False
    assert body["message"] == "This email is already on the waitlist."
    assert await WaitlistEntry.select().aio_count() == 1


@pytest.mark.gen_test
async def test_waitlist_invalid_or_missing_email_is_400(api):
    resp = await api.post("/api/waitlist/signup/", json={"email": "nope"})
    assert resp.status == 400 and resp.json()["errors"] == {"email": ["Enter a valid email address."]}
    resp = await api.post("/api/waitlist/signup/", json={})
    assert resp.status == 400 and resp.json()["errors"] == {"email": ["This field is required."]}


@pytest.mark.gen_test(timeout=60)
async def test_waitlist_signup_sends_confirmation_email(api, mailbox):
    resp = await api.post("/api/waitlist/signup/", json={"email": "early@example.com"})
    assert resp.status == 201
    [msg] = await wait_for_mail(1)
    assert msg["To"] == "early@example.com"
    assert msg["Subject"] == "You're on the AvantLush waitlist!"
    assert "waitlist" in mail_body(msg)
    assert "early@example.com" in mail_body(msg)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "waitlist" in html and settings.FRONTEND_URL in html


@pytest.mark.gen_test
async def test_preview_email_lists_every_template_and_renders_each_with_sample_data(api):
    from models.core.mail import template_names

    names = template_names()
    assert {"waitlist", "verification", "password_reset"} <= set(names)
    for path in ("/api/preview_email/", "/preview_email/"):
        resp = await api.get(path)
        assert resp.status == 200, resp
        assert resp.headers["Content-Type"].startswith("text/html")
        for name in names:
            assert f'href="?template={name}"' in resp.text
    for name in names:
        resp = await api.get("/preview_email/", params={"template": name})
        assert resp.status == 200, (name, resp)
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "<html" in resp.text.lower(), name
        if name in ("waitlist", "verification", "password_reset"):  # every variable has a sample value
            assert "[" not in resp.text.split("<body", 1)[-1].split("©")[0], name
    waitlist = await api.get("/preview_email/", params={"template": "waitlist"})
    assert "waitlist" in waitlist.text
    verification = await api.get("/preview_email/", params={"template": "verification"})
    assert "ada@example.com" in verification.text and "example-link" in verification.text


@pytest.mark.gen_test
async def test_preview_email_of_an_unknown_template_is_404(api):
    resp = await api.get("/preview_email/", params={"template": "nope"})
    assert resp.status == 404


@pytest.mark.gen_test
async def test_preview_email_escapes_the_email_parameter(api):
    resp = await api.get("/api/preview_email/", params={"template": "waitlist", "email": "<script>alert(1)</script>"})
    assert resp.status == 200
    assert "<script>alert(1)</script>" not in resp.text
    assert "&lt;script&gt;" in resp.text
