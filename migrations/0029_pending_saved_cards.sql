-- 3-D Secure loose ends (after3ds). A card saved during a payment that waits
-- for the shopper's authentication is pending until that payment is settled:
-- ``pending_order_id`` names the order whose payment it waits for (NULL: a
-- card the shopper may use). It is not listed while pending; settled PAID it
-- is kept (the column cleared), failed or expired it is deleted and detached
-- at the provider (models/checkout/cards.py confirm_pending / discard_pending).
ALTER TABLE "saved_payment_method" ADD COLUMN IF NOT EXISTS "pending_order_id" INTEGER
    REFERENCES "orders" ("id") ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS "saved_payment_method_pending" ON "saved_payment_method" ("pending_order_id")
    WHERE "pending_order_id" IS NOT NULL;
