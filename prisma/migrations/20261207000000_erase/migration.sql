-- Erasing a key (forgetting a user) redacts the outbox events that name it: found by key, not by a scan
-- of every event kept for retention.
CREATE INDEX "outbox_events_key_idx" ON "outbox_events" (tenant, namespace, key);
