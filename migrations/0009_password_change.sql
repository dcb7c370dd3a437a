-- The first-run admin's generated password must be changed at the first login: until then the
-- API refuses that user everything but the password change (issue 19, item 10).
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
