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
    """PaymentIntents (create/confirm with manual capture, capture, cancel,
    retrieve), 3-D Secure like Stripe's test cards (``pm_card_authenticationRequired``
    answers ``requires_action``; ``authenticate`` plays the shopper's step),
    Customers, PaymentMethods (detach, list) and refunds, honouring
    Idempotency-Key like Stripe: a repeated key returns the first response.
    A PaymentIntent confirmed with a ``return_url`` answers 3-D Secure with a
    ``redirect_to_url`` next action back to it. ``event`` builds a webhook signed like Stripe's."""

    CARDS = {"pm_card_visa": ("visa", "4242"), "pm_card_mastercard": ("mastercard", "4444"),
             "pm_card_authenticationRequired": ("visa", "3184")}

    def __init__(self) -> None:
        self.intents: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict, dict]] = []  # method, path, form, headers
        self.by_key: dict[str, tuple[int, bytes]] = {}
        self.refunds: list[dict] = []
        self.customers: dict[str, dict] = {}
        self.attached: dict[str, str] = {}  # payment method → customer
        self.methods: dict[str, str] = {}  # payment method id → the test token it was made from

    def app(self) -> tornado.web.Application:
        fake = self

        class Handler(tornado.web.RequestHandler):
            def check_xsrf_cookie(self):
                pass

            def _answer(self, status, body):
                self.set_status(status)
                self.set_header("Content-Type", "application/json")
                self.set_header("Request-Id", f"req_{next(_ids)}")
                self.finish(body)

            def get(self, path):
                fake.requests.append(("GET", path, {}, dict(self.request.headers)))
                self._answer(*fake.read(path))

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
                self._answer(status, body)

        return tornado.web.Application([(r"/v1/(.*)", Handler)])

    def _pm(self, pm: str) -> dict:
        brand, last4 = self.CARDS.get(self.methods.get(pm, pm), ("visa", "4242"))
        return {"id": pm, "object": "payment_method", "type": "card", "customer": self.attached.get(pm),
                "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034}}

    def _view(self, intent: dict, form: dict | None = None) -> bytes:
        out = dict(intent)
        if form and any(k.startswith("expand") and v == "payment_method" for k, v in form.items()):
            out["payment_method"] = self._pm(intent["payment_method"])
        return orjson.dumps(out)

    def read(self, path: str) -> tuple[int, bytes]:
        parts = path.split("/")
        if parts[0] == "payment_intents" and len(parts) == 2 and parts[1] in self.intents:
            return 200, self._view(self.intents[parts[1]])
        if parts[0] == "customers" and len(parts) == 3 and parts[2] == "payment_methods":
            data = [self._pm(pm) for pm, cus in self.attached.items() if cus == parts[1]]
            return 200, orjson.dumps({"object": "list", "data": data, "has_more": False})
        return 404, orjson.dumps({"error": {"type": "invalid_request_error", "message": f"No such object {path}"}})

    def authenticate(self, intent_id: str, ok: bool = True) -> dict:
        """The shopper's 3-D Secure step in the browser (Stripe.js): passed →
        ``requires_capture`` (manual capture), failed → ``requires_payment_method``."""
        intent = self.intents[intent_id]
        assert intent["status"] == "requires_action", intent["status"]
        intent["next_action"] = None
        if ok:
            intent["status"], intent["amount_capturable"] = "requires_capture", intent["amount"]
            self._attach_saved(intent)
        else:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"code": "payment_intent_authentication_failure",
                                            "message": "We are unable to authenticate your payment method."}
        return intent

    def _attach_saved(self, intent: dict) -> None:
        if intent.get("setup_future_usage") and intent.get("customer"):
            self.attached[intent["payment_method"]] = intent["customer"]

    def event(self, kind: str, intent_id: str, secret: str, event_id: str | None = None) -> tuple[bytes, dict]:
        """A webhook about ``intent_id`` as it is now, signed with ``secret`` like Stripe's."""
        import hashlib
        import hmac

        body = orjson.dumps({"id": event_id or f"evt_fake_{next(_ids)}", "object": "event", "type": kind,
                             "api_version": "2024-06-20", "created": int(time.time()),
                             "data": {"object": self.intents[intent_id]}})
        t = int(time.time())
        sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}

    def handle(self, path: str, form: dict) -> tuple[int, bytes]:
        if path == "payment_intents":
            pm = form.get("payment_method", "")
            if pm.startswith("pm_card_chargeDeclined"):
                return 402, orjson.dumps({"error": {"type": "card_error", "code": "card_declined",
                                                    "decline_code": "generic_decline",
                                                    "message": "Your card was declined."}})
            customer = form.get("customer")
            owner = self.attached.get(pm)
            if owner and owner != customer:
                return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                    "message": "The provided PaymentMethod belongs to another "
                                                               "Customer."}})
            if pm.startswith("pm_card_"):  # a test token: each use makes a new PaymentMethod, as Stripe's
                token, pm = pm, f"pm_fake_{next(_ids)}"
                self.methods[pm] = token
            intent_id = f"pi_fake_{next(_ids)}"
            intent = {"id": intent_id, "object": "payment_intent", "amount": int(form["amount"]),
                      "amount_capturable": int(form["amount"]), "amount_received": 0,
                      "currency": form["currency"], "status": "requires_capture",
                      "capture_method": form.get("capture_method", "automatic"), "payment_method": pm,
                      "customer": customer, "setup_future_usage": form.get("setup_future_usage"),
                      "client_secret": f"{intent_id}_secret_{next(_ids)}", "next_action": None,
                      "last_payment_error": None, "metadata": {}, "return_url": form.get("return_url")}
            if self.methods.get(pm, pm).startswith("pm_card_authenticationRequired"):
                intent["status"], intent["amount_capturable"] = "requires_action", 0
                intent["next_action"] = {"type": "use_stripe_sdk",
                                         "use_stripe_sdk": {"type": "three_d_secure_redirect",
                                                            "stripe_js": f"https://hooks.stripe.test/3ds/{intent_id}"}}
                if form.get("return_url"):  # confirmed on the server with a return_url: Stripe redirects
                    intent["next_action"] = {"type": "redirect_to_url", "redirect_to_url": {
                        "url": f"https://hooks.stripe.test/redirect/authenticate/src_{intent_id}",
                        "return_url": form["return_url"]}}
            else:
                self._attach_saved(intent)
            self.intents[intent["id"]] = intent
            return 200, self._view(intent, form)
        parts = path.split("/")
        if parts[0] == "payment_intents" and len(parts) == 3:
            intent = self.intents.get(parts[1])
            if intent is None:
                return 404, orjson.dumps({"error": {"type": "invalid_request_error", "message": "No such intent"}})
            if parts[2] == "capture":
                if intent["status"] != "requires_capture":
                    return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                        "message": "This PaymentIntent could not be captured"}})
                intent["status"], intent["amount_received"] = "succeeded", intent["amount_capturable"]
                intent["amount_capturable"] = 0
            elif parts[2] == "cancel":
                if intent["status"] == "succeeded":
                    return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                        "message": "You cannot cancel this PaymentIntent"}})
                intent["status"] = "canceled"
            return 200, orjson.dumps(intent)
        if path == "customers":
            customer = {"id": f"cus_fake_{next(_ids)}", "object": "customer", "email": form.get("email"),
                        "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
            self.customers[customer["id"]] = customer
            return 200, orjson.dumps(customer)
        if parts[0] == "payment_methods" and len(parts) == 3 and parts[2] in ("attach", "detach"):
            if parts[2] == "attach":
                self.attached[parts[1]] = form["customer"]
            elif self.attached.pop(parts[1], None) is None:
                return 400, orjson.dumps({"error": {"type": "invalid_request_error",
                                                    "message": "The payment method is not attached to a customer"}})
            return 200, orjson.dumps(self._pm(parts[1]))
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
