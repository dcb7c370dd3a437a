-- The automatic reply to a missed or rejected call goes to a caller at most once per window
-- (pharmacy-service/src/app/calls.rs): when each customer last got one.
CREATE TABLE call_replies (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    sent_at     INTEGER NOT NULL
);
