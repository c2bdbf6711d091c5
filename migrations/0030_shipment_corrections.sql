-- Shipments staff can correct (issue 21 follow-ups): a shipment not delivered
-- yet may be cancelled (lost parcel, wrong box, label voided). Its row and
-- lines stay as history; its units count as not shipped again
-- (models/fulfilment/shipments.py). No trigger, no function.
ALTER TABLE "shipment" DROP CONSTRAINT IF EXISTS "shipment_status_valid";
ALTER TABLE "shipment" ADD CONSTRAINT "shipment_status_valid"
  CHECK ("status" IN ('pending', 'shipped', 'delivered', 'cancelled'));
ALTER TABLE "shipment" ADD COLUMN IF NOT EXISTS "cancelled_at" TIMESTAMP;
ALTER TABLE "shipment" ADD COLUMN IF NOT EXISTS "cancel_reason" TEXT NOT NULL DEFAULT '';
