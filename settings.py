"""Settings, read from the environment once (12-factor).

Nothing else in the project reads ``os.environ``. In production
(``APP_ENV=production``) missing secrets refuse to start; in development a
secret key is generated once into ``DATA_DIR``.
"""
from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent


class ConfigError(SystemExit):
    """The environment cannot run the app: the process stops with this message
    (exit status 1) instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"AvantLush configuration error: {message}")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = _env(name)
    try:
        return int(value) if value is not None else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc


def _float(name: str, default: float) -> float:
    value = _env(name)
    try:
        return float(value) if value is not None else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc


APP_ENV = _env("APP_ENV", "development")
PRODUCTION = APP_ENV == "production"
TESTING = APP_ENV == "test"

PORT = _int("PORT", 8000)
WEB_CONCURRENCY = _int("WEB_CONCURRENCY", 1)
DATA_DIR = Path(_env("DATA_DIR", str(ROOT / ".data"))).resolve()
MEDIA_DIR = DATA_DIR / "media"
MAIL_DIR = DATA_DIR / "mail"
EXPORT_DIR = DATA_DIR / "exports"

# Unset: the embedded servers of models/core/embedded.py are used (see resolve_services()).
DATABASE_URL = _env("DATABASE_URL")
REDIS_URL = _env("REDIS_URL")
DB_POOL_SIZE = _int("DB_POOL_SIZE", 20)
# A web request's connect and query timeout: a down database answers 503 instead of hanging.
DB_TIMEOUT_SECONDS = _float("DB_TIMEOUT_SECONDS", 10.0)
# The same for bulk work (seed, migrate, the other CLI commands, rollup rebuilds,
# exports and clean-up in Celery), whose statements may rightly run for minutes; 0: no limit.
BULK_TIMEOUT_SECONDS = _float("BULK_TIMEOUT_SECONDS", 3600.0)


def db_timeout(bulk: bool = False) -> float | None:
    """Seconds a connect or a statement may take: the web's, or bulk work's (None: no limit)."""
    if bulk:
        return BULK_TIMEOUT_SECONDS if BULK_TIMEOUT_SECONDS > 0 else None
    return DB_TIMEOUT_SECONDS

FRONTEND_URL = (_env("FRONTEND_URL", "http://localhost:3000") or "").rstrip("/")
BACKEND_URL = (_env("BACKEND_URL", f"http://localhost:{PORT}") or "").rstrip("/")
CORS_ALLOWED_ORIGINS = [o.strip() for o in (_env("CORS_ALLOWED_ORIGINS", "*") or "").split(",") if o.strip()]
TRUST_PROXY = _bool("TRUST_PROXY")

SMTP_HOST = _env("SMTP_HOST")
SMTP_PORT = _int("SMTP_PORT", 587)
SMTP_USER = _env("SMTP_USER")
SMTP_PASSWORD = _env("SMTP_PASSWORD")
SMTP_STARTTLS = _bool("SMTP_STARTTLS", default=bool(SMTP_USER))
EMAIL_FROM = _env("EMAIL_FROM", "AvantLush <no-reply@avantlush.com>")
ADMIN_NOTIFICATION_EMAILS = [e.strip() for e in (_env("ADMIN_NOTIFICATION_EMAILS", "") or "").split(",") if e.strip()]

CLOUDINARY_URL = _env("CLOUDINARY_URL")
# Where export files and uploads live (models/core/storage.py): unset, under DATA_DIR
# (one machine); s3://BUCKET/PREFIX, any S3-compatible store that every process shares.
STORAGE_URL = _env("STORAGE_URL")
S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")  # unset: AWS itself
AWS_ACCESS_KEY_ID = _env("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = _env("AWS_SECRET_ACCESS_KEY")
AWS_DEFAULT_REGION = _env("AWS_DEFAULT_REGION", "us-east-1")
# Image URLs are built when read: MEDIA_URL + the stored key (a CDN or the
# bucket's public address may go here); by default this server's /media/.
MEDIA_URL = (_env("MEDIA_URL", f"{BACKEND_URL}/media/") or "").rstrip("/") + "/"
# Uploaded images: larger ones are refused before they are decoded.
IMAGE_MAX_SIDE = _int("IMAGE_MAX_SIDE", 8000)
IMAGE_MAX_PIXELS = _int("IMAGE_MAX_PIXELS", 40_000_000)

STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = _env("STRIPE_API_BASE")
# Hosts a checkout's return_url may name besides FRONTEND_URL's site (models/checkout/payment.py
# return_url_problem): comma-separated, "shop.example.com" or "*.example.com".
PAYMENT_RETURN_HOSTS = [h.strip().lower() for h in (_env("PAYMENT_RETURN_HOSTS", "") or "").split(",") if h.strip()]
PAYPAL_CLIENT_ID = _env("PAYPAL_CLIENT_ID")
PAYPAL_CLIENT_SECRET = _env("PAYPAL_CLIENT_SECRET")
PAYPAL_API_BASE = _env("PAYPAL_API_BASE", "https://api-m.sandbox.paypal.com")
PAYPAL_WEBHOOK_ID = _env("PAYPAL_WEBHOOK_ID")  # the webhook PayPal verifies signatures against
CLOVER_API_KEY = _env("CLOVER_API_KEY")
CLOVER_MERCHANT_ID = _env("CLOVER_MERCHANT_ID")
CLOVER_API_BASE = _env("CLOVER_API_BASE", "https://scl-sandbox.dev.clover.com")
CLOVER_WEBHOOK_SECRET = _env("CLOVER_WEBHOOK_SECRET")

GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
GOOGLE_CERTS_URL = _env("GOOGLE_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs")

# Product search typo rules (models/catalog/search.py): a query word of at least
# SEARCH_TYPOS_ONE_FROM letters may have one typo, of at least SEARCH_TYPOS_TWO_FROM
# two. The lexicon's deletion index (migration 0007) covers thresholds down to 4 and 7.
SEARCH_TYPOS_ONE_FROM = _int("SEARCH_TYPOS_ONE_FROM", 5)
SEARCH_TYPOS_TWO_FROM = _int("SEARCH_TYPOS_TWO_FROM", 9)
# Searches answered from an index in each web process (models/catalog/engine.py);
# off: every search runs in SQL (the same results, slower on large catalogs).
SEARCH_INDEX = _bool("SEARCH_INDEX", True)
if not 4 <= SEARCH_TYPOS_ONE_FROM < SEARCH_TYPOS_TWO_FROM or SEARCH_TYPOS_TWO_FROM < 7:
    raise ConfigError("SEARCH_TYPOS_ONE_FROM must be at least 4 and below SEARCH_TYPOS_TWO_FROM, "
                      "which must be at least 7")

RATE_LIMIT_AUTH = _env("RATE_LIMIT_AUTH", "5/minute")
RATE_LIMIT_ANON = _env("RATE_LIMIT_ANON", "300/minute")
RATE_LIMIT_USER = _env("RATE_LIMIT_USER", "1200/minute")
# Guests (issue 20): new guest carts per client IP, and each guest cart's requests.
RATE_LIMIT_GUEST_START = _env("RATE_LIMIT_GUEST_START", "20/hour")
RATE_LIMIT_GUEST = _env("RATE_LIMIT_GUEST", "120/minute")

ACCESS_TOKEN_SECONDS = _int("ACCESS_TOKEN_SECONDS", 24 * 3600)
REFRESH_TOKEN_SECONDS = _int("REFRESH_TOKEN_SECONDS", 7 * 24 * 3600)
# A refresh token presented again this long after its rotation gets the pair it was rotated
# into (two tabs refreshing at once); later, any reuse ends every session of the user.
REFRESH_REUSE_GRACE_SECONDS = _int("REFRESH_REUSE_GRACE_SECONDS", 10)
VERIFY_TOKEN_SECONDS = 24 * 3600
RESET_TOKEN_SECONDS = 3600
BCRYPT_ROUNDS = _int("BCRYPT_ROUNDS", 12)

TAX_RATE = Decimal(_env("TAX_RATE", "0") or "0")
# An unpaid order a customer placed holds its stock this long, then expires
# (models/orders/actions.py expire_unpaid_orders, every minute); a customer
# may have at most MAX_OPEN_UNPAID_ORDERS such orders open at once.
UNPAID_ORDER_TTL_MINUTES = _int("UNPAID_ORDER_TTL_MINUTES", 30)
MAX_OPEN_UNPAID_ORDERS = _int("MAX_OPEN_UNPAID_ORDERS", 3)
# A customer may ask to return units of an order this many days after their delivery
# (models/fulfilment/returns.py).
RETURN_WINDOW_DAYS = _int("RETURN_WINDOW_DAYS", 30)
ABANDONED_CART_HOURS = _int("ABANDONED_CART_HOURS", 24)
SEED_DEMO = _bool("SEED_DEMO", default=True)
LOG_LEVEL = _env("LOG_LEVEL", "INFO")

# Background work (models/core/outbox.py): the relay runs in each web process unless
# OUTBOX_RELAY=0 (then run `python server.py relay` somewhere).
OUTBOX_RELAY = _bool("OUTBOX_RELAY", default=True)
OUTBOX_POLL_SECONDS = _float("OUTBOX_POLL_SECONDS", 2.0)  # fallback poll besides LISTEN/NOTIFY
OUTBOX_RETRY_MAX_SECONDS = _float("OUTBOX_RETRY_MAX_SECONDS", 5.0)  # backoff cap while the broker is down
OUTBOX_PUBLISH_TIMEOUT_SECONDS = _float("OUTBOX_PUBLISH_TIMEOUT_SECONDS", 5.0)
# A job published but not started after this long is published again (Redis
# lost it); keep it above the usual queue backlog.
OUTBOX_REDELIVER_SECONDS = _float("OUTBOX_REDELIVER_SECONDS", 300.0)
# A running job renews its lease every third of this; a job whose worker died
# (no renewal for this long) is published again.
OUTBOX_RUN_LEASE_SECONDS = _float("OUTBOX_RUN_LEASE_SECONDS", 30.0)
# Celery workers beat every OUTBOX_WORKER_HEARTBEAT_SECONDS; a job received by a
# worker silent for OUTBOX_WORKER_DEAD_SECONDS (killed) is published again.
OUTBOX_WORKER_HEARTBEAT_SECONDS = _float("OUTBOX_WORKER_HEARTBEAT_SECONDS", 10.0)
OUTBOX_WORKER_DEAD_SECONDS = _float("OUTBOX_WORKER_DEAD_SECONDS", 30.0)
OUTBOX_RETENTION_DAYS = _float("OUTBOX_RETENTION_DAYS", 7.0)  # finished rows are pruned after this
EXPORT_RETENTION_HOURS = _float("EXPORT_RETENTION_HOURS", 24.0)  # finished export files and jobs
# Slow clients: the time to send a request's head (also the idle keep-alive
# timeout: Tornado measures both with one clock) and then its body.
HTTP_HEADER_TIMEOUT_SECONDS = _float("HTTP_HEADER_TIMEOUT_SECONDS", 20.0)
HTTP_BODY_TIMEOUT_SECONDS = _float("HTTP_BODY_TIMEOUT_SECONDS", 60.0)
SHUTDOWN_GRACE_SECONDS = _float("SHUTDOWN_GRACE_SECONDS", 25.0)  # SIGTERM: time to finish in-flight work


def _secret_key() -> str:
    key = _env("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ConfigError("SECRET_KEY must be set when APP_ENV=production")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        # Readable by its owner only, from the first byte on.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        os.replace(tmp, path)
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a key file made by an older version
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def check_production() -> None:
    """Refuse to start a production process that lacks what it needs: its own
    services (nothing embedded) and storage that every process shares."""
    if not PRODUCTION:
        return
    missing = [name for name, value in {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "STORAGE_URL": STORAGE_URL,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }.items() if not value]
    if missing:
        raise ConfigError("Missing required settings for production: " + ", ".join(missing))


def resolve_services() -> tuple[str, str]:
    """The database and Redis URLs, starting embedded servers where unset."""
    global DATABASE_URL, REDIS_URL
    if not DATABASE_URL or not REDIS_URL:
        check_production()
        from models.core import embedded

        try:
            if not DATABASE_URL:
                DATABASE_URL = embedded.ensure_postgres(DATA_DIR / "pg")
            if not REDIS_URL:
                REDIS_URL = embedded.ensure_redis(DATA_DIR / "redis")
        except ImportError as exc:  # a production install (requirements.txt) has no embedded servers
            raise ConfigError(f"DATABASE_URL and REDIS_URL must be set: the embedded servers ({exc.name}) "
                              "are development packages (pip install -r requirements-dev.txt)") from None
    return DATABASE_URL, REDIS_URL
