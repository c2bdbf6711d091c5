"""Fixtures of the payment tests: the real Stripe SDK pointed at a local fake API."""
from __future__ import annotations

import pytest

import settings
from tests.support.fakes import FakeStripe, serve


@pytest.fixture
def fake_stripe(monkeypatch):
    fake = FakeStripe()
    server, url = serve(fake.app())
    monkeypatch.setattr(settings, "STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setattr(settings, "STRIPE_API_BASE", url)
    yield fake
    server.stop()
