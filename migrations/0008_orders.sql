-- Orders: orders with their items, payments and tracking events, stock
-- movements, idempotency records, payment webhook events, checkouts and saved
-- payment methods. Tables of models/orders/tables.py and models/payments/tables.py.

-- Order numbers ORD-YYYYMMDD-NNNN: the date of the order and a number from one
-- sequence (never reused, so unique however many orders are placed at once; at
-- least four digits, more once it passes 9999).
CREATE SEQUENCE "order_number_seq";

CREATE FUNCTION next_order_number(at TIMESTAMP) RETURNS VARCHAR AS $$
  SELECT 'ORD-' || to_char(at, 'YYYYMMDD') || '-' || lpad(n::text, greatest(4, length(n::text)), '0')
  FROM (SELECT nextval('order_number_seq') AS n) s;
$$ LANGUAGE sql VOLATILE;

CREATE TABLE "orders" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_number" VARCHAR(32) NOT NULL DEFAULT next_order_number(timezone('utc', now())),
  "user_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "customer_id" INTEGER REFERENCES "customer" ("id") ON DELETE SET NULL,
  -- Who ordered, as they were when they ordered (shown and searched without a join).
  "customer_name" VARCHAR(255) NOT NULL DEFAULT '',
  "customer_email" VARCHAR(254) NOT NULL DEFAULT '',
  "status" VARCHAR(12) NOT NULL DEFAULT 'PENDING',
  "payment_status" VARCHAR(10) NOT NULL DEFAULT 'PENDING',
  "payment_type" VARCHAR(10) NOT NULL DEFAULT 'CREDIT',
  "order_type" VARCHAR(10) NOT NULL DEFAULT 'STANDARD',
  "payment_method" VARCHAR(50) NOT NULL DEFAULT '',
  "subtotal" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "discount" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "shipping_cost" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "tax" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "total" NUMERIC(12, 2) NOT NULL DEFAULT 0,
  "shipping_address" TEXT NOT NULL DEFAULT '',
  "shipping_city" VARCHAR(100) NOT NULL DEFAULT '',
  "shipping_state" VARCHAR(100) NOT NULL DEFAULT '',
  "shipping_country" VARCHAR(100) NOT NULL DEFAULT '',
  "shipping_zip" VARCHAR(20) NOT NULL DEFAULT '',
  "billing_address" TEXT NOT NULL DEFAULT '',
  "shipping_method_id" INTEGER,  -- the cart issue's shipping_method (no FK: methods may be deleted)
  "promo_code_id" INTEGER,       -- the cart issue's promo_code
  "estimated_delivery_date" DATE,
  "note" TEXT NOT NULL DEFAULT '',
  -- True while the order holds stock: cleared exactly once when it is given back.
  "stock_held" BOOLEAN NOT NULL DEFAULT FALSE,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "orders_status_valid" CHECK ("status" IN
    ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED')),
  CONSTRAINT "orders_payment_status_valid" CHECK ("payment_status" IN ('PENDING', 'PAID', 'FAILED', 'REFUNDED')),
  CONSTRAINT "orders_payment_type_valid" CHECK ("payment_type" IN ('CASH', 'CREDIT', 'DEBIT', 'TRANSFER')),
  CONSTRAINT "orders_order_type_valid" CHECK ("order_type" IN ('STANDARD', 'EXPRESS', 'PICKUP')),
  CONSTRAINT "orders_amounts_valid" CHECK ("subtotal" >= 0 AND "discount" >= 0 AND "shipping_cost" >= 0
    AND "tax" >= 0 AND "total" >= 0));
CREATE UNIQUE INDEX "orders_order_number" ON "orders" ("order_number");
-- The list's orderings, each with and without the status filter (tabs), and per
-- buyer (a customer's own list, the admin's user_id / customer_id filters).
-- Ties are broken by id so that pages never overlap.
CREATE INDEX "orders_created" ON "orders" ("created_at" DESC, "id" DESC);
CREATE INDEX "orders_status_created" ON "orders" ("status", "created_at" DESC, "id" DESC);
CREATE INDEX "orders_total" ON "orders" ("total" DESC, "id" DESC);
CREATE INDEX "orders_status_total" ON "orders" ("status", "total" DESC, "id" DESC);
CREATE INDEX "orders_user_created" ON "orders" ("user_id", "created_at" DESC, "id" DESC);
CREATE INDEX "orders_customer_created" ON "orders" ("customer_id", "created_at" DESC, "id" DESC);
CREATE INDEX "orders_payment_status" ON "orders" ("payment_status", "created_at" DESC);
-- Search: order number, customer email and name, substring and typo tolerant.
CREATE INDEX "orders_search_trgm" ON "orders" USING GIN
  (("order_number" || ' ' || "customer_email" || ' ' || "customer_name") gin_trgm_ops);

CREATE TABLE "order_item" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "product_id" INTEGER REFERENCES "product" ("id") ON DELETE SET NULL,
  "variation_id" INTEGER REFERENCES "product_variation" ("id") ON DELETE SET NULL,
  -- What was bought, as it was named and priced then.
  "product_name" VARCHAR(255) NOT NULL,
  "product_sku" VARCHAR(64) NOT NULL DEFAULT '',
  "variants" JSONB NOT NULL DEFAULT '{}',
  "quantity" INTEGER NOT NULL,
  "unit_price" NUMERIC(12, 2) NOT NULL,
  "total_price" NUMERIC(12, 2) NOT NULL,
  CONSTRAINT "order_item_quantity_valid" CHECK ("quantity" > 0),
  CONSTRAINT "order_item_amounts_valid" CHECK ("unit_price" >= 0 AND "total_price" >= 0));
CREATE INDEX "order_item_order_id" ON "order_item" ("order_id", "id");
CREATE INDEX "order_item_product_id" ON "order_item" ("product_id");
CREATE INDEX "order_item_variation_id" ON "order_item" ("variation_id");

CREATE TABLE "payment" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "user_id" INTEGER REFERENCES "users" ("id") ON DELETE SET NULL,
  "provider" VARCHAR(20) NOT NULL,          -- test | stripe | paypal | clover | manual
  "method" VARCHAR(50) NOT NULL DEFAULT '', -- shown to people: "CREDIT", "Visa", "PayPal"
  "amount" NUMERIC(12, 2) NOT NULL,
  "currency" VARCHAR(3) NOT NULL DEFAULT 'USD',
  "status" VARCHAR(10) NOT NULL DEFAULT 'PENDING',
  "transaction_id" VARCHAR(255),            -- the provider's reference (PaymentIntent, PayPal order, …)
  "failure_message" TEXT NOT NULL DEFAULT '',
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "payment_status_valid" CHECK ("status" IN ('PENDING', 'PAID', 'FAILED', 'REFUNDED')),
  CONSTRAINT "payment_amount_valid" CHECK ("amount" >= 0));
CREATE INDEX "payment_order_id" ON "payment" ("order_id", "id");
CREATE INDEX "payment_user_id" ON "payment" ("user_id");
CREATE UNIQUE INDEX "payment_provider_transaction" ON "payment" ("provider", "transaction_id")
  WHERE "transaction_id" IS NOT NULL;

CREATE TABLE "order_tracking" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "order_id" INTEGER NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
  "status" VARCHAR(12) NOT NULL,
  "location" VARCHAR(255) NOT NULL DEFAULT '',
  "description" TEXT NOT NULL DEFAULT '',
  "timestamp" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "order_tracking_status_valid" CHECK ("status" IN
    ('PENDING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'RETURNED', 'DAMAGED')));
CREATE INDEX "order_tracking_order" ON "order_tracking" ("order_id", "timestamp", "id");

-- Every change of a product's or variation's stock, with its reason
-- (order, cancel, refund, admin, seed …) and the order that caused it.
CREATE TABLE "stock_movement" (
  "id" BIGSERIAL NOT NULL PRIMARY KEY,
  "product_id" INTEGER NOT NULL REFERENCES "product" ("id") ON DELETE CASCADE,
  "variation_id" INTEGER REFERENCES "product_variation" ("id") ON DELETE CASCADE,
  "order_id" INTEGER REFERENCES "orders" ("id") ON DELETE SET NULL,
  "change" INTEGER NOT NULL,
  "reason" VARCHAR(20) NOT NULL,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "stock_movement_change_valid" CHECK ("change" <> 0));
CREATE INDEX "stock_movement_product" ON "stock_movement" ("product_id", "created_at");
CREATE INDEX "stock_movement_variation" ON "stock_movement" ("variation_id") WHERE "variation_id" IS NOT NULL;
CREATE INDEX "stock_movement_order" ON "stock_movement" ("order_id") WHERE "order_id" IS NOT NULL;

-- Idempotency-Key records: one per user, endpoint and key. The first request
-- inserts it (the unique index makes a concurrent twin wait, then see it), and
-- stores its response when it finishes; records older than 24 h are replaced.
CREATE TABLE "idempotency_record" (
  "id" BIGSERIAL NOT NULL PRIMARY KEY,
  "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "endpoint" VARCHAR(50) NOT NULL,
  "key" VARCHAR(255) NOT NULL,
  "request_hash" VARCHAR(64) NOT NULL,
  "status_code" INTEGER,   -- NULL while the first request is still running
  "response" BYTEA,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()));
CREATE UNIQUE INDEX "idempotency_record_key" ON "idempotency_record" ("user_id", "endpoint", "key");
CREATE INDEX "idempotency_record_created" ON "idempotency_record" ("created_at");

-- Payment provider webhook events, each processed once.
CREATE TABLE "webhook_event" (
  "id" BIGSERIAL NOT NULL PRIMARY KEY,
  "provider" VARCHAR(20) NOT NULL,
  "event_id" VARCHAR(255) NOT NULL,
  "event_type" VARCHAR(100) NOT NULL DEFAULT '',
  "payload" JSONB NOT NULL DEFAULT '{}',
  "received_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()));
CREATE UNIQUE INDEX "webhook_event_provider_event" ON "webhook_event" ("provider", "event_id");

-- A shopper's current checkout: the priced cart (lines and totals) with the
-- chosen shipping method, promo code and payment method.
CREATE TABLE "checkout" (
  "id" VARCHAR(40) NOT NULL PRIMARY KEY,
  "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "shipping_method_id" INTEGER,
  "promo_code_id" INTEGER,
  "payment_method" VARCHAR(20) NOT NULL DEFAULT 'stripe',
  "quote" JSONB NOT NULL DEFAULT '{}',
  "shipping_address" JSONB NOT NULL DEFAULT '{}',
  "status" VARCHAR(10) NOT NULL DEFAULT 'open',
  "order_id" INTEGER REFERENCES "orders" ("id") ON DELETE SET NULL,
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  "updated_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()),
  CONSTRAINT "checkout_status_valid" CHECK ("status" IN ('open', 'completed')));
CREATE UNIQUE INDEX "checkout_one_open" ON "checkout" ("user_id") WHERE "status" = 'open';
CREATE INDEX "checkout_user" ON "checkout" ("user_id", "created_at");

-- save_card: only the provider's reusable reference is kept, never card data.
CREATE TABLE "saved_payment_method" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
  "provider" VARCHAR(20) NOT NULL,
  "reference" VARCHAR(255) NOT NULL,
  "brand" VARCHAR(30) NOT NULL DEFAULT '',
  "last4" VARCHAR(4) NOT NULL DEFAULT '',
  "created_at" TIMESTAMP NOT NULL DEFAULT timezone('utc', now()));
CREATE UNIQUE INDEX "saved_payment_method_ref" ON "saved_payment_method" ("user_id", "provider", "reference");

-- Order counts and values per status, kept exact by triggers, so that the
-- list's total and the status tabs are a read of at most seven rows instead of
-- a count over every order. The triggers are deferred to commit time, so a
-- row here is locked only while committing: concurrent checkouts do not queue
-- on it for the length of their transactions.
CREATE TABLE "order_status_count" (
  "status" VARCHAR(12) NOT NULL PRIMARY KEY,
  "n" BIGINT NOT NULL DEFAULT 0,
  "total_value" NUMERIC(16, 2) NOT NULL DEFAULT 0);

CREATE FUNCTION order_status_count_apply(st VARCHAR, dn BIGINT, dv NUMERIC) RETURNS void AS $$
  INSERT INTO order_status_count AS c (status, n, total_value) VALUES (st, dn, dv)
  ON CONFLICT (status) DO UPDATE SET n = c.n + EXCLUDED.n, total_value = c.total_value + EXCLUDED.total_value;
$$ LANGUAGE sql;

CREATE FUNCTION order_status_count_row() RETURNS trigger AS $$
BEGIN
  -- Deferred: OLD/NEW are the row as it was when the statement ran, which is
  -- what each firing accounts for (one firing per row change).
  IF TG_OP = 'INSERT' THEN
    PERFORM order_status_count_apply(NEW.status, 1, NEW.total);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM order_status_count_apply(OLD.status, -1, -OLD.total);
  ELSIF OLD.status IS DISTINCT FROM NEW.status OR OLD.total IS DISTINCT FROM NEW.total THEN
    -- Two statuses in key order, so that concurrent commits cannot deadlock.
    IF OLD.status <= NEW.status THEN
      PERFORM order_status_count_apply(OLD.status, -1, -OLD.total);
      PERFORM order_status_count_apply(NEW.status, 1, NEW.total);
    ELSE
      PERFORM order_status_count_apply(NEW.status, 1, NEW.total);
      PERFORM order_status_count_apply(OLD.status, -1, -OLD.total);
    END IF;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER order_status_count_change AFTER INSERT OR DELETE OR UPDATE OF status, total ON "orders"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_status_count_row();

CREATE FUNCTION order_status_count_truncated() RETURNS trigger AS $$
BEGIN
  DELETE FROM order_status_count;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER order_status_count_truncate AFTER TRUNCATE ON "orders"
  FOR EACH STATEMENT EXECUTE FUNCTION order_status_count_truncated();

-- Recompute from scratch (after bulk loads that bypass the triggers).
CREATE FUNCTION order_status_count_rebuild() RETURNS void AS $$
  DELETE FROM order_status_count;
  INSERT INTO order_status_count (status, n, total_value)
    SELECT status, count(*), coalesce(sum(total), 0) FROM orders GROUP BY status;
$$ LANGUAGE sql;

-- The orders' version: a new value whenever a commit changes what an order
-- list shows (orders, their items, their payments). Pages of the order lists
-- are cached per process under it (models/orders/queries.py): a request reads
-- this one row, and a cached page is used only while the version is the one
-- it was built under. Deferred to commit time like catalog_version, so the
-- row is locked only while committing. Values come from a sequence and are
-- never reused, even after the table is emptied (then nothing is cached).
CREATE SEQUENCE "order_version_seq";
CREATE TABLE "order_version" ("id" BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CHECK ("id"),
  "version" BIGINT NOT NULL);
INSERT INTO order_version (id, version) VALUES (TRUE, nextval('order_version_seq'));

CREATE FUNCTION order_version_bump() RETURNS trigger AS $$
BEGIN
  INSERT INTO order_version AS v (id, version) VALUES (TRUE, nextval('order_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('order_version_seq');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER order_version_orders AFTER INSERT OR DELETE OR UPDATE ON "orders"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_version_bump();
CREATE CONSTRAINT TRIGGER order_version_order_item AFTER INSERT OR DELETE OR UPDATE ON "order_item"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_version_bump();
CREATE CONSTRAINT TRIGGER order_version_payment AFTER INSERT OR DELETE OR UPDATE ON "payment"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_version_bump();
-- Product names and images shown on order items come from the order item
-- snapshot, except the image: a changed main image shows at the next order change.

CREATE FUNCTION order_version_bump_now() RETURNS void AS $$
  INSERT INTO order_version AS v (id, version) VALUES (TRUE, nextval('order_version_seq'))
  ON CONFLICT (id) DO UPDATE SET version = nextval('order_version_seq');
$$ LANGUAGE sql;

-- Every change of stock is a stock_movement row, whoever makes it: orders
-- (models/orders/stock.py names the reason and order through two
-- transaction-local settings) and staff edits alike (reason 'admin').
CREATE FUNCTION stock_movement_product() RETURNS trigger AS $$
BEGIN
  INSERT INTO stock_movement (product_id, variation_id, order_id, change, reason)
  VALUES (NEW.id, NULL, nullif(current_setting('avantlush.stock_order', true), '')::int,
          NEW.stock_quantity - OLD.stock_quantity,
          coalesce(nullif(current_setting('avantlush.stock_reason', true), ''), 'admin'));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION stock_movement_variation() RETURNS trigger AS $$
BEGIN
  INSERT INTO stock_movement (product_id, variation_id, order_id, change, reason)
  VALUES (NEW.product_id, NEW.id, nullif(current_setting('avantlush.stock_order', true), '')::int,
          NEW.stock_quantity - OLD.stock_quantity,
          coalesce(nullif(current_setting('avantlush.stock_reason', true), ''), 'admin'));
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER product_stock_movement AFTER UPDATE OF stock_quantity ON product FOR EACH ROW
  WHEN (OLD.stock_quantity IS DISTINCT FROM NEW.stock_quantity) EXECUTE FUNCTION stock_movement_product();
CREATE TRIGGER variation_stock_movement AFTER UPDATE OF stock_quantity ON product_variation FOR EACH ROW
  WHEN (OLD.stock_quantity IS DISTINCT FROM NEW.stock_quantity) EXECUTE FUNCTION stock_movement_variation();
