-- Issue 22 part A: delivery priced by place and size, delivery date slots for
-- bulky items, and a stock policy per product (deny / backorder / made_to_order).

-- Shipping zones: countries (ISO 3166-1 alpha-2), optionally narrowed to some
-- of their states (ISO 3166-2 codes such as US-CA, or upper-cased names when
-- pycountry has none); a free-shipping threshold on the goods; how many bulky
-- deliveries a day the zone takes (NULL: no delivery slots there).
CREATE TABLE IF NOT EXISTS "shipping_zone" (
    "id" SERIAL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "countries" VARCHAR(2)[] NOT NULL,
    "states" VARCHAR(100)[] NOT NULL DEFAULT '{}',
    "free_shipping_threshold" NUMERIC(12, 2),
    "delivery_capacity" INTEGER,
    "is_active" BOOLEAN NOT NULL DEFAULT TRUE,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    CONSTRAINT "shipping_zone_has_countries" CHECK (cardinality("countries") >= 1),
    CONSTRAINT "shipping_zone_threshold_valid" CHECK ("free_shipping_threshold" IS NULL OR "free_shipping_threshold" >= 0),
    CONSTRAINT "shipping_zone_capacity_valid" CHECK ("delivery_capacity" IS NULL OR "delivery_capacity" >= 0));
CREATE INDEX IF NOT EXISTS "shipping_zone_countries" ON "shipping_zone" USING gin ("countries");
CREATE INDEX IF NOT EXISTS "shipping_zone_name" ON "shipping_zone" ("name", "id");

-- A rate band of one method in one zone: the cart's total weight (kg), volume
-- (m3) or goods subtotal in [min_value, max_value) costs ``price``.
CREATE TABLE IF NOT EXISTS "shipping_rate" (
    "id" SERIAL PRIMARY KEY,
    "zone_id" INTEGER NOT NULL REFERENCES "shipping_zone" ("id") ON DELETE CASCADE,
    "shipping_method_id" INTEGER NOT NULL REFERENCES "shipping_method" ("id") ON DELETE CASCADE,
    "basis" VARCHAR(10) NOT NULL,
    "min_value" NUMERIC(12, 3) NOT NULL DEFAULT 0,
    "max_value" NUMERIC(12, 3),
    "price" NUMERIC(12, 2) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    CONSTRAINT "shipping_rate_basis_valid" CHECK ("basis" IN ('weight', 'volume', 'subtotal')),
    CONSTRAINT "shipping_rate_band_valid" CHECK ("min_value" >= 0 AND ("max_value" IS NULL OR "max_value" > "min_value")),
    CONSTRAINT "shipping_rate_price_valid" CHECK ("price" >= 0));
CREATE INDEX IF NOT EXISTS "shipping_rate_zone" ON "shipping_rate" ("zone_id", "shipping_method_id", "basis", "min_value");
CREATE INDEX IF NOT EXISTS "shipping_rate_method" ON "shipping_rate" ("shipping_method_id");

-- A method that delivers bulky items (white glove), on a date the shopper picks.
ALTER TABLE "shipping_method" ADD COLUMN IF NOT EXISTS "handles_bulky" BOOLEAN NOT NULL DEFAULT FALSE;

-- Bulky deliveries booked per zone and day. A row is created on the first
-- booking with the zone's delivery_capacity (staff may set a day's capacity
-- themselves); booked never exceeds capacity (the booking is a conditional
-- INSERT ... ON CONFLICT DO UPDATE ... WHERE booked < capacity).
CREATE TABLE IF NOT EXISTS "delivery_slot" (
    "zone_id" INTEGER NOT NULL REFERENCES "shipping_zone" ("id") ON DELETE CASCADE,
    "date" DATE NOT NULL,
    "capacity" INTEGER NOT NULL,
    "booked" INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ("zone_id", "date"),
    CONSTRAINT "delivery_slot_capacity_valid" CHECK ("capacity" >= 0),
    CONSTRAINT "delivery_slot_never_overbooked" CHECK ("booked" >= 0 AND "booked" <= "capacity"));

-- The delivery date an order booked (slot_held: cleared once when it is given back).
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "delivery_date" DATE;
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "delivery_zone_id" INTEGER REFERENCES "shipping_zone" ("id") ON DELETE SET NULL;
ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "slot_held" BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX IF NOT EXISTS "orders_delivery_zone" ON "orders" ("delivery_zone_id") WHERE "delivery_zone_id" IS NOT NULL;

-- When each order line is expected to leave the warehouse (models/catalog/stock_policy.py).
ALTER TABLE "order_item" ADD COLUMN IF NOT EXISTS "expected_ship_date" DATE;

-- Stock policy (per product; its variations follow it, each with its own counters).
-- ``backordered``: units sold beyond the stock and not yet covered (backorders
-- and made-to-order units). ``stock_quantity`` keeps meaning "units on the
-- shelf" (never negative); one of the two is always 0 (stock received first
-- covers what is owed: trigger stock_backorder_net).
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "is_bulky" BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "stock_policy" VARCHAR(15) NOT NULL DEFAULT 'deny';
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "backorder_limit" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "restock_date" DATE;
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "lead_time_days" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "backordered" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "product" DROP CONSTRAINT IF EXISTS "product_stock_policy_valid";
ALTER TABLE "product" ADD CONSTRAINT "product_stock_policy_valid"
    CHECK ("stock_policy" IN ('deny', 'backorder', 'made_to_order'));
ALTER TABLE "product" DROP CONSTRAINT IF EXISTS "product_backorder_valid";
ALTER TABLE "product" ADD CONSTRAINT "product_backorder_valid"
    CHECK ("backorder_limit" >= 0 AND "backordered" >= 0 AND ("stock_quantity" = 0 OR "backordered" = 0));
ALTER TABLE "product" DROP CONSTRAINT IF EXISTS "product_lead_time_valid";
ALTER TABLE "product" ADD CONSTRAINT "product_lead_time_valid" CHECK ("lead_time_days" BETWEEN 0 AND 365);
ALTER TABLE "product_variation" ADD COLUMN IF NOT EXISTS "backordered" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "product_variation" DROP CONSTRAINT IF EXISTS "variation_backorder_valid";
ALTER TABLE "product_variation" ADD CONSTRAINT "variation_backorder_valid"
    CHECK ("backordered" >= 0 AND ("stock_quantity" = 0 OR "backordered" = 0));

-- How many units of a product (or variation) can be sold now. Python twin:
-- models/catalog/stock_policy.py sellable_stock (tests check they agree).
CREATE OR REPLACE FUNCTION sellable_stock(policy TEXT, stock INTEGER, backordered INTEGER, backorder_limit INTEGER)
RETURNS INTEGER LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE policy
        WHEN 'made_to_order' THEN 1000000000
        WHEN 'backorder' THEN stock + GREATEST(backorder_limit - backordered, 0)
        ELSE stock END
$$;

-- Stock arriving covers what is owed first: on the shelf and owed are netted.
CREATE OR REPLACE FUNCTION stock_backorder_net() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    covered INTEGER := LEAST(NEW.stock_quantity, NEW.backordered);
BEGIN
    NEW.stock_quantity := NEW.stock_quantity - covered;
    NEW.backordered := NEW.backordered - covered;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS product_backorder_net ON product;
CREATE TRIGGER product_backorder_net BEFORE UPDATE OF stock_quantity, backordered ON product FOR EACH ROW
    WHEN (NEW.stock_quantity > 0 AND NEW.backordered > 0) EXECUTE FUNCTION stock_backorder_net();
DROP TRIGGER IF EXISTS variation_backorder_net ON product_variation;
CREATE TRIGGER variation_backorder_net BEFORE UPDATE OF stock_quantity, backordered ON product_variation FOR EACH ROW
    WHEN (NEW.stock_quantity > 0 AND NEW.backordered > 0) EXECUTE FUNCTION stock_backorder_net();
