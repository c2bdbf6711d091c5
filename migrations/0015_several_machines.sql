-- Image rows keep storage keys ("products/ab12.jpg"), never a host: the
-- address is made when a row is read, so a database restored elsewhere, or a
-- server on another port or domain, serves every image.
--
-- media_url(key): the SQL twin of models.core.media.media_url (a test checks they
-- agree). A key gets the prefix of the connection setting avantlush.media_url
-- (MEDIA_URL, set by models.db.init_db on every pooled connection); an absolute
-- URL (Cloudinary's) is left as it is. A one-expression SQL function:
-- PostgreSQL inlines it into the reads (a concatenation per image).
CREATE FUNCTION media_url(key TEXT) RETURNS TEXT LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN key IS NULL OR strpos(key, '://') > 0 THEN key
              ELSE coalesce(nullif(current_setting('avantlush.media_url', true), ''), '/media/') || key END
$$;

-- Rows written with this server's address (scheme://host[:port]/media/KEY) keep the KEY.
UPDATE product SET main_image = regexp_replace(main_image, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/', '')
  WHERE main_image ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/';
UPDATE product_image SET image_url = regexp_replace(image_url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/', '')
  WHERE image_url ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/';
UPDATE review_image SET image_url = regexp_replace(image_url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/', '')
  WHERE image_url ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/';
UPDATE profile SET photo_url = regexp_replace(photo_url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/', '')
  WHERE photo_url ~ '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]+/media/';

-- Jobs a dead worker held (models/outbox.py): a worker records which jobs it
-- has received (reserved_by, set as the message arrives, before it runs) and
-- beats in outbox_worker every OUTBOX_WORKER_HEARTBEAT_SECONDS. A relay
-- republishes a published job whose worker has not beaten for
-- OUTBOX_WORKER_DEAD_SECONDS, instead of waiting for its whole lease.
ALTER TABLE "outbox_job" ADD COLUMN "reserved_by" TEXT;
CREATE TABLE "outbox_worker" ("name" TEXT NOT NULL PRIMARY KEY, "seen_at" TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX "outbox_job_reserved" ON "outbox_job" ("reserved_by")
  WHERE "finished_at" IS NULL AND "reserved_by" IS NOT NULL;
