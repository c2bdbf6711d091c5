-- Issue 20: 3-D Secure, saved cards with a provider customer per user, guest checkout.

-- One provider customer per user (Stripe Customer), created once on first need.
CREATE TABLE IF NOT EXISTS "payment_customer" (
  "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "provider" VARCHAR(20) NOT NULL,
  "reference" VARCHAR(255) NOT NULL,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  PRIMARY KEY ("user_id", "provider"));

-- Saved cards: what may be shown (brand, last4, expiry) and the customer they belong to.
ALTER TABLE "saved_payment_method" ADD COLUMN IF NOT EXISTS "exp_month" SMALLINT;
ALTER TABLE "saved_payment_method" ADD COLUMN IF NOT EXISTS "exp_year" SMALLINT;
ALTER TABLE "saved_payment_method" ADD COLUMN IF NOT EXISTS "customer_reference" VARCHAR(255);
-- A card reference belongs to one user: paying with it checks it is the payer's.
CREATE INDEX IF NOT EXISTS "saved_payment_method_reference" ON "saved_payment_method" ("provider", "reference");
-- The list of a user's saved cards, newest first.
CREATE INDEX IF NOT EXISTS "saved_payment_method_user" ON "saved_payment_method" ("user_id", "created_at" DESC, "id" DESC);

-- Guests: a user row that cannot log in (no password), addressed by an opaque
-- cart token of which only the SHA-256 is kept; the email given at checkout
-- is kept on the guest's orders (customer_email), not on the row (an account
-- may have it).
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "is_guest" BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "users" ADD COLUMN IF NOT EXISTS "guest_token_hash" VARCHAR(64);
CREATE UNIQUE INDEX IF NOT EXISTS "users_guest_token" ON "users" ("guest_token_hash") WHERE "guest_token_hash" IS NOT NULL;
-- The hourly clean-up of old guests without orders (models/checkout/guests.py prune_guests).
CREATE INDEX IF NOT EXISTS "users_guest_joined" ON "users" ("date_joined") WHERE "is_guest";
-- Guest orders attached to an account that registers or logs in with their (verified) email.
CREATE INDEX IF NOT EXISTS "orders_guest_email" ON "orders" (lower("customer_email")) WHERE "customer_id" IS NULL;
