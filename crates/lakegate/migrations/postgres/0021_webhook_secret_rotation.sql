-- A webhook endpoint's secret rotates with a grace period: until previous_secret_until,
-- deliveries carry a signature with the previous secret too (Standard Webhooks allows
-- several, space-separated), so the receiver can switch without losing any.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_enc BYTEA;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until BIGINT;
