-- Refunds through the gateway, the states they leave, and what webhooks record.
-- (Idempotent where the orders work adds the same statuses and column.)

-- PARTIALLY_REFUNDED does not fit VARCHAR(10). Triggers whose definition
-- names the column (the dashboard rollups) must be dropped while its type
-- changes: they are re-created exactly as they are (whichever migration
-- defined them last), and only if the column is still too narrow.
CREATE FUNCTION pg_temp.widen(tbl regclass, col text, width int) RETURNS void AS $$
DECLARE
  defs text[];
  names text[];
  i int;
BEGIN
  IF (SELECT a.atttypmod - 4 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col) >= width THEN
    RETURN;
  END IF;
  SELECT coalesce(array_agg(pg_get_triggerdef(t.oid)), '{}'), coalesce(array_agg(t.tgname::text), '{}')
    INTO defs, names
    FROM pg_trigger t
    WHERE t.tgrelid = tbl AND NOT t.tgisinternal
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col
                  AND a.attnum = ANY (t.tgattr::int2[]));
  FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
    EXECUTE 'DROP TRIGGER ' || quote_ident(names[i]) || ' ON ' || tbl::text;
  END LOOP;
  EXECUTE 'ALTER TABLE ' || tbl::text || ' ALTER COLUMN ' || quote_ident(col) || ' TYPE VARCHAR(' || width || ')';
  FOR i IN 1 .. coalesce(array_length(defs, 1), 0) LOOP
    EXECUTE defs[i];
  END LOOP;
END
$$ LANGUAGE plpgsql;
SELECT pg_temp.widen('orders', 'payment_status', 20);
SELECT pg_temp.widen('payment', 'status', 20);

ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_payment_status_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_payment_status_valid"
  CHECK ("payment_status" IN ('PENDING', 'PAID', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED'));
ALTER TABLE "payment" DROP CONSTRAINT IF EXISTS "payment_status_valid";
ALTER TABLE "payment" ADD CONSTRAINT "payment_status_valid"
  CHECK ("status" IN ('PENDING', 'PAID', 'FAILED', 'REFUNDED', 'PARTIALLY_REFUNDED'));
-- REFUNDED: a fully refunded order, out of the fulfilment flow.
ALTER TABLE "orders" DROP CONSTRAINT IF EXISTS "orders_status_valid";
ALTER TABLE "orders" ADD CONSTRAINT "orders_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED', 'REFUNDED'));
ALTER TABLE "order_tracking" DROP CONSTRAINT IF EXISTS "order_tracking_status_valid";
ALTER TABLE "order_tracking" ADD CONSTRAINT "order_tracking_status_valid" CHECK ("status" IN
  ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED', 'REFUNDED'));

-- What went back to the customer so far (sum of the succeeded refund rows).
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "refunded_amount" NUMERIC(12, 2) NOT NULL DEFAULT 0;
-- What a refund of this payment names at the provider when it is not
-- transaction_id (a PayPal capture id, a Clover charge id).
ALTER TABLE "payment" ADD COLUMN IF NOT EXISTS "capture_reference" VARCHAR(255);

-- One row per refund attempt: pending while the provider is asked, then
-- succeeded (with the provider's reference) or failed (with its reason).
-- Only succeeded rows count as money given back; pending ones are reserved
-- so that two refunds at once never exceed what was captured.
CREATE TABLE IF NOT EXISTS "refund" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "payment_id" INTEGER REFERENCES "payment" ("id") ON DELETE SET NULL,
  "amount" NUMERIC(12, 2) NOT NULL,
  "status" VARCHAR(10) NOT NULL DEFAULT 'pending',
  "provider" VARCHAR(20) NOT NULL DEFAULT '',
  "provider_reference" VARCHAR(255),
  "reason" TEXT NOT NULL DEFAULT '',
  "failure_message" TEXT NOT NULL DEFAULT '',
  "lines" JSONB NOT NULL DEFAULT '[]',
  "restock" BOOLEAN NOT NULL DEFAULT FALSE,
  "created_by" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "refund_status_valid" CHECK ("status" IN ('pending', 'succeeded', 'failed')),
  CONSTRAINT "refund_amount_valid" CHECK ("amount" > 0));
CREATE INDEX IF NOT EXISTS "refund_order" ON "refund" ("order_id", "id");
CREATE INDEX IF NOT EXISTS "refund_payment" ON "refund" ("payment_id");

-- What processing an event did (applied, ignored, amount_mismatch, …).
ALTER TABLE "webhook_event" ADD COLUMN IF NOT EXISTS "result" VARCHAR(30) NOT NULL DEFAULT '';

-- A checkout paid through a hosted provider waits ('awaiting', linked to its
-- PENDING order) until the provider confirms; the shopper may start another
-- checkout meanwhile. 'completed' once paid.
ALTER TABLE "checkout" DROP CONSTRAINT IF EXISTS "checkout_status_valid";
ALTER TABLE "checkout" ADD CONSTRAINT "checkout_status_valid" CHECK ("status" IN ('open', 'awaiting', 'completed'));
CREATE INDEX IF NOT EXISTS "checkout_order" ON "checkout" ("order_id") WHERE "order_id" IS NOT NULL;
