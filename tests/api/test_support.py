"""Support tickets: customers' own tickets, staff replies and status changes
emailed by the real Celery worker, and no peeking at other people's tickets."""
from __future__ import annotations

import shutil

import pytest

import settings
from models.support import actions
from models.support.tables import TicketEvent
from tests.support.client import assert_envelope
from tests.support.mail import mail_body, read_mails, wait_for_mail


@pytest.fixture
def people(make_user, io_loop):
    async def build():
        return (await make_user(email="ada@example.com", full_name="Ada Obi"),
                await make_user(email="bob@example.com", full_name="Bob Ray"),
                await make_user(email="staff@example.com", is_staff=True, full_name="Staff"))

    return io_loop.run_sync(build)


@pytest.fixture
def mailbox(celery_worker):
    from celery_app import app as celery

    celery.control.purge()
    celery.control.ping(timeout=10, limit=1)
    shutil.rmtree(settings.MAIL_DIR, ignore_errors=True)
    return settings.MAIL_DIR


@pytest.mark.gen_test
async def test_create_list_and_get_own_ticket(api, people):
    ada, bob, _ = people
    resp = await api.post("/api/help/", json={"full_name": "John Doe", "message": "My order hasn't arrived"},
                          user=ada)
    assert resp.status == 201, resp
    body = resp.json()
    assert body["full_name"] == "John Doe" and body["status"] == "OPEN"
    assert body["message"] == "My order hasn't arrived"
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    await api.post("/api/help/", json={"message": "Bob's problem"}, user=bob)

    listed = (await api.get("/api/help/", user=ada)).json()
    assert [t["id"] for t in listed] == [body["id"]]
    got = await api.get(f"/api/help/{body['id']}/", user=ada)
    assert got.status == 200 and got.json()["replies"] == []


@pytest.mark.gen_test
async def test_name_defaults_to_the_account_name(api, people):
    resp = await api.post("/api/help/", json={"message": "Hello"}, user=people[0])
    assert resp.json()["full_name"] == "Ada Obi"


@pytest.mark.gen_test
async def test_another_customers_ticket_is_404(api, people):
    ada, bob, _ = people
    tid = (await api.post("/api/help/", json={"message": "mine"}, user=ada)).json()["id"]
    assert_envelope(await api.get(f"/api/help/{tid}/", user=bob), 404, "Support ticket not found")
    assert_envelope(await api.patch(f"/api/help/{tid}/", json={"status": "CLOSED"}, user=bob), 404)
    assert_envelope(await api.get("/api/help/999/", user=ada), 404, "Support ticket not found")


@pytest.mark.gen_test
async def test_anonymous_is_401(api):
    assert_envelope(await api.get("/api/help/"), 401)
    assert_envelope(await api.post("/api/support/submit/", json={"subject": "x", "message": "y"}), 401)


@pytest.mark.gen_test
async def test_validation_errors(api, people):
    body = assert_envelope(await api.post("/api/help/", json={}, user=people[0]), 400, "Validation error")
    assert body["errors"] == {"message": ["This field is required."]}
    body = assert_envelope(await api.post("/api/support/submit/", json={"message": "x"}, user=people[0]), 400)
    assert body["errors"] == {"subject": ["This field is required."]}
    tid = (await api.post("/api/help/", json={"message": "m"}, user=people[0])).json()["id"]
    body = assert_envelope(await api.patch(f"/api/help/{tid}/", json={"status": "DONE"}, user=people[2]), 400)
    assert "status" in body["errors"]


@pytest.mark.gen_test
async def test_submit_stores_the_subject(api, people):
    resp = await api.post("/api/support/submit/", json={"subject": "Order Issue", "message": "Late"},
                          user=people[0])
    assert resp.status == 201, resp
    body = resp.json()
    assert body == {"status": "success", "message": "Support ticket submitted successfully",
                    "ticket_id": body["ticket_id"]}
    got = (await api.get(f"/api/help/{body['ticket_id']}/", user=people[0])).json()
    assert got["subject"] == "Order Issue" and got["message"] == "Late" and got["full_name"] == "Ada Obi"


@pytest.mark.gen_test
async def test_customer_may_close_but_not_otherwise_change_status_or_reply(api, people):
    ada = people[0]
    tid = (await api.post("/api/help/", json={"message": "m"}, user=ada)).json()["id"]
    assert_envelope(await api.patch(f"/api/help/{tid}/", json={"status": "RESOLVED"}, user=ada), 403)
    assert_envelope(await api.patch(f"/api/help/{tid}/", json={"reply": "self-answer"}, user=ada), 403)
    assert (await api.get(f"/api/help/{tid}/", user=ada)).json()["status"] == "OPEN"
    resp = await api.patch(f"/api/help/{tid}/", json={"status": "closed"}, user=ada)
    assert resp.status == 200 and resp.json()["status"] == "CLOSED"
    assert await TicketEvent.select().aio_count() == 0  # the customer's own close emails nobody


@pytest.mark.gen_test
async def test_staff_see_all_tickets_and_filter_by_status(api, people):
    ada, bob, staff = people
    a = (await api.post("/api/help/", json={"message": "a"}, user=ada)).json()["id"]
    b = (await api.post("/api/help/", json={"message": "b"}, user=bob)).json()["id"]
    assert {t["id"] for t in (await api.get("/api/help/", user=staff)).json()} == {a, b}
    await api.patch(f"/api/help/{b}/", json={"status": "IN_PROGRESS"}, user=staff)
    assert [t["id"] for t in (await api.get("/api/help/", params={"status": "in_progress"}, user=staff)).json()] == [b]
    assert_envelope(await api.get("/api/help/", params={"status": "bogus"}, user=staff), 400)


@pytest.mark.gen_test(timeout=60)
async def test_staff_reply_and_status_change_email_the_customer(api, people, mailbox):
    ada, _, staff = people
    tid = (await api.post("/api/support/submit/", json={"subject": "Order Issue", "message": "Late"},
                          user=ada)).json()["ticket_id"]
    resp = await api.patch(f"/api/help/{tid}/", json={"reply": "It ships <today>.", "status": "IN_PROGRESS"},
                           user=staff)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["status"] == "IN_PROGRESS" and [r["message"] for r in body["replies"]] == ["It ships <today>."]
    mails = await wait_for_mail(2)
    assert {m["To"] for m in mails} == {"ada@example.com"}
    texts = [mail_body(m) for m in mails]
    assert any("It ships <today>." in t and "In progress" in t for t in texts)
    assert all(f"#{tid}" in m["Subject"] for m in mails)
    html = mails[0].get_body(preferencelist=("html",)).get_content() + \
        mails[1].get_body(preferencelist=("html",)).get_content()
    assert "It ships &lt;today&gt;." in html  # escaped
    # The customer sees the reply on their ticket.
    assert (await api.get(f"/api/help/{tid}/", user=ada)).json()["replies"][0]["message"] == "It ships <today>."


@pytest.mark.gen_test
async def test_ticket_email_is_sent_once(people, io_loop):
    ada, _, staff = people
    ticket = await actions.create_ticket(ada, "m", subject="S")
    await actions.update_ticket(staff, ticket.id, {"status": "RESOLVED"})
    event = await TicketEvent.aio_get()
    ctx = await actions.ticket_email(event.id)
    assert ctx["to"] == "ada@example.com" and ctx["status_label"] == "Resolved" and ctx["reply"] == ""
    await actions.mark_emailed(event.id)
    assert await actions.ticket_email(event.id) is None  # a redelivered task sends nothing
    assert read_mails() == []


@pytest.mark.gen_test
async def test_unchanged_status_records_no_event(api, people):
    ada, _, staff = people
    tid = (await api.post("/api/help/", json={"message": "m"}, user=ada)).json()["id"]
    assert (await api.patch(f"/api/help/{tid}/", json={"status": "OPEN"}, user=staff)).status == 200
    assert await TicketEvent.select().aio_count() == 0
