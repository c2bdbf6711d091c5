-- Transactional outbox: background work is written as a row in the same
-- transaction as the data it is about; a relay (models/core/outbox.py) publishes
-- committed rows to Celery and the task marks its row finished.
--
-- A plain  INSERT INTO outbox_job (task, args) VALUES ('tasks.x.y', '[1]')
-- (from code or from a trigger) is a complete enqueue: every other column has
-- a default, and the statement trigger below wakes the relays at commit.
CREATE TABLE "outbox_job" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    "task" TEXT NOT NULL,                             -- Celery task name
    "args" JSONB NOT NULL DEFAULT '[]',
    "kwargs" JSONB NOT NULL DEFAULT '{}',
    "options" JSONB NOT NULL DEFAULT '{}',            -- extra send_task options (queue, priority…)
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- pending: not yet published; published: in the broker; running: a worker
    -- has it; retrying: the task asked Celery for a retry; done; failed (gave up).
    "state" TEXT NOT NULL DEFAULT 'pending'
        CHECK ("state" IN ('pending', 'published', 'running', 'retrying', 'done', 'failed')),
    -- When the relay should (re)publish the row unless it is finished by then:
    -- now() for new rows; a lease (OUTBOX_REDELIVER_SECONDS) once published or running.
    "available_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "published_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,                        -- set for done and failed
    "publish_count" INTEGER NOT NULL DEFAULT 0,       -- times handed to the broker
    "run_count" INTEGER NOT NULL DEFAULT 0,           -- times a worker started it
    "last_error" TEXT
);
-- The relay's claim: unfinished rows that are due, oldest first.
CREATE INDEX "outbox_job_due" ON "outbox_job" ("available_at") WHERE "finished_at" IS NULL;
-- Clean-up of finished rows and `server.py jobs` listings.
CREATE INDEX "outbox_job_finished" ON "outbox_job" ("finished_at") WHERE "finished_at" IS NOT NULL;
CREATE INDEX "outbox_job_failed" ON "outbox_job" ("created_at") WHERE "state" = 'failed';

CREATE FUNCTION outbox_job_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_job', '');  -- delivered at commit, once per transaction
    RETURN NULL;
END $$;

CREATE TRIGGER "outbox_job_notify" AFTER INSERT ON "outbox_job"
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_job_notify();
