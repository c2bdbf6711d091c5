-- Units of an order line given back by a line-level refund restock while the
-- order still holds the rest: a later cancellation or full restock gives back
-- only quantity - restocked_quantity (models/orders/stock.py order_lines).
ALTER TABLE "order_item" ADD COLUMN IF NOT EXISTS "restocked_quantity" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "order_item" DROP CONSTRAINT IF EXISTS "order_item_restocked_valid";
ALTER TABLE "order_item" ADD CONSTRAINT "order_item_restocked_valid"
    CHECK (restocked_quantity >= 0 AND restocked_quantity <= quantity);
