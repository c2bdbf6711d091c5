"""Local stand-ins for the providers' HTTP APIs, served on the test's IOLoop:
the real Stripe SDK, and our PayPal/Clover REST calls, talk to them; Google's
sign-in keys and ID tokens (its certs endpoint is served by the
``google_certs`` fixture)."""
from __future__ import annotations

import datetime as dt
import itertools
import time
import urllib.parse

import jwt
import orjson
import tornado.httpserver
import tornado.testing
import tornado.web

_ids = itertools.count(1)


class FakeStripe:
    """PaymentIntents (create/confirm with manual capture, capture, cancel)
    and refunds, honouring Idempotency-Key like Stripe: a repeated key returns
    the first response."""

    def __init__(self) -> None:
        self.intents: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict, dict]] = []  # method, path, form, headers
        self.by_key: dict[str, tuple[int, bytes]] = {}
        self.refunds: list[dict] = []

    def app(self) -> tornado.web.Application:
        fake = self

        class Handler(tornado.web.RequestHandler):
            def check_xsrf_cookie(self):
                pass

            def post(self, path):
                form = {k: v[-1] for k, v in urllib.parse.parse_qs(self.request.body.decode()).items()}
                headers = dict(self.request.headers)
                fake.requests.append(("POST", path, form, headers))
                key = self.request.headers.get("Idempotency-Key")
                if key and key in fake.by_key:
                    status, body = fake.by_key[key]
                else:
                    status, body = fake.handle(path, form)
                    if key:
                        fake.by_key[key] = (status, body)
                self.set_status(status)
                self.set_header("Content-Type", "application/json")
                self.set_header("Request-Id", f"req_{next(_ids)}")
                self.finish(body)

        return tornado.web.Application([(r"/v1/(.*)", Handler)])

    def handle(self, path: str, form: dict) -> tuple[int, bytes]:
        if path == "payment_intents":
            pm = form.get("payment_method", "")
            if pm.startswith("pm_card_chargeDeclined"):
                return 402, orjson.dumps({"error": {"type": "card_error", "code": "card_declined",
                                                    "decline_code": "generic_decline",
                                                    "message": "Your card was declined."}})
            intent = {"id": f"pi_fake_{next(_ids)}", "object": "payment_intent", "amount": int(form["amount"]),
                      "currency": form["currency"], "status": "requires_capture",
                      "capture_method": form.get("capture_method", "automatic"), "payment_method": pm,
                      "metadata": {}}
            self.intents[intent["id"]] = intent
            return 200, orjson.dumps(intent)
        parts = path.split("/")
        if parts[0] == "payment_intents" and len(parts) == 3:
            intent = self.intents.get(parts[1])
            if intent is None:
                return 404, orjson.dumps({"error": {"type": "invalid_request_error", "message": "No such intent"}})
            if parts[2] == "capture":
                if intent["status"] != "requires_capture":
                    return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                        "message": "This PaymentIntent could not be captured"}})
                intent["status"] = "succeeded"
            elif parts[2] == "cancel":
                if intent["status"] == "succeeded":
                    return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                        "message": "You cannot cancel this PaymentIntent"}})
                intent["status"] = "canceled"
            return 200, orjson.dumps(intent)
        if path == "refunds":
            refund = {"id": f"re_fake_{next(_ids)}", "object": "refund", "payment_intent": form.get("payment_intent"),
                      "amount": int(form.get("amount", 0)), "status": "succeeded"}
            self.refunds.append(refund)
            return 200, orjson.dumps(refund)
        return 404, orjson.dumps({"error": {"type": "invalid_request_error", "message": f"Unknown path {path}"}})


class FakeJsonApi:
    """A JSON API answering POSTs by path with canned handlers (PayPal, Clover)."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict, bytes]] = []

    def app(self) -> tornado.web.Application:
        fake = self

        class Handler(tornado.web.RequestHandler):
            def post(self, path):
                fake.requests.append((path, dict(self.request.headers), self.request.body))
                handler = fake.routes.get(path)
                if handler is None:
                    self.set_status(404)
                    self.finish(b"{}")
                    return
                status, body = handler(self.request)
                self.set_status(status)
                self.set_header("Content-Type", "application/json")
                self.finish(orjson.dumps(body))

        return tornado.web.Application([(r"/(.*)", Handler)])


def serve(app: tornado.web.Application) -> tuple[tornado.httpserver.HTTPServer, str]:
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{port}"


# --- Google sign-in ---------------------------------------------------------------

GOOGLE_CLIENT_ID = "test-client.apps.googleusercontent.com"
GOOGLE_KID = "test-kid"


def rsa_key_and_cert():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google-certs")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def google_token(keys, *, key=None, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": "accounts.google.com", "aud": GOOGLE_CLIENT_ID, "sub": "109876543210", "email": "g.user@gmail.com",
              "email_verified": True, "name": "Gee User", "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return jwt.encode(claims, key or keys["key"], algorithm="RS256", headers={"kid": GOOGLE_KID})
