-- The WhatsApp Web version of the last login ("2.3000.N"), the fallback when fetching the
-- current one fails. NULL until a login.
ALTER TABLE device ADD COLUMN app_version TEXT;
