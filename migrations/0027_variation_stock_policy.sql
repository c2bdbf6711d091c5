-- Issue 22 item 2: a variation may override its product's stock policy.
-- Each of the four columns is NULL when the variation inherits the product's
-- value (nullable columns without a default: adding them rewrites nothing).
-- The effective terms are the variation's value when set, else the
-- product's, field by field: stock_terms(p, v) below, Python twin
-- models/catalog/stock_policy.py effective_terms (tests check they agree).
-- A variation keeps its own counters (``backordered``, 0023): its backorder
-- limit, its own or inherited, counts the variation's own units owed.
ALTER TABLE "product_variation" ADD COLUMN IF NOT EXISTS "stock_policy" VARCHAR(15);
ALTER TABLE "product_variation" ADD COLUMN IF NOT EXISTS "backorder_limit" INTEGER;
ALTER TABLE "product_variation" ADD COLUMN IF NOT EXISTS "restock_date" DATE;
ALTER TABLE "product_variation" ADD COLUMN IF NOT EXISTS "lead_time_days" INTEGER;
ALTER TABLE "product_variation" DROP CONSTRAINT IF EXISTS "variation_stock_policy_valid";
ALTER TABLE "product_variation" ADD CONSTRAINT "variation_stock_policy_valid"
    CHECK ("stock_policy" IS NULL OR "stock_policy" IN ('deny', 'backorder', 'made_to_order'));
ALTER TABLE "product_variation" DROP CONSTRAINT IF EXISTS "variation_backorder_limit_valid";
ALTER TABLE "product_variation" ADD CONSTRAINT "variation_backorder_limit_valid"
    CHECK ("backorder_limit" IS NULL OR "backorder_limit" >= 0);
ALTER TABLE "product_variation" DROP CONSTRAINT IF EXISTS "variation_lead_time_valid";
ALTER TABLE "product_variation" ADD CONSTRAINT "variation_lead_time_valid"
    CHECK ("lead_time_days" IS NULL OR "lead_time_days" BETWEEN 0 AND 365);

-- The stock policy in force for a line: policy, limit, restock date, lead time.
DO $$ BEGIN
    CREATE TYPE stock_terms AS (policy TEXT, backorder_limit INTEGER, restock_date DATE, lead_time_days INTEGER);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The effective terms of product ``p`` sold as variation ``v`` (v NULL: the
-- product itself, e.g. the NULL row of a LEFT JOIN). A one-expression SQL
-- function: PostgreSQL inlines it and reads only the columns named (no
-- whole-row values are built). Python twin: stock_policy.py effective_terms.
CREATE OR REPLACE FUNCTION stock_terms(p product, v product_variation)
RETURNS stock_terms LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(COALESCE(v.stock_policy, p.stock_policy), COALESCE(v.backorder_limit, p.backorder_limit),
               COALESCE(v.restock_date, p.restock_date), COALESCE(v.lead_time_days, p.lead_time_days))::stock_terms
$$;

-- Units of product ``p`` (as variation ``v`` when not NULL) that can be sold
-- now: sellable_stock (0023) under the effective terms, with the shelf and
-- owed counters of the variation (else the product). Python twin:
-- stock_policy.py sellable_stock over effective_terms (tested equal).
CREATE OR REPLACE FUNCTION line_sellable_stock(p product, v product_variation)
RETURNS INTEGER LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sellable_stock((stock_terms(p, v)).policy, COALESCE(v.stock_quantity, p.stock_quantity),
                          COALESCE(v.backordered, p.backordered), (stock_terms(p, v)).backorder_limit)
$$;
