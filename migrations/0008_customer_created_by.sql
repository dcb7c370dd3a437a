-- Who added a customer by hand (POST /api/customers); NULL for customers who wrote on WhatsApp
-- or were imported. An agent may open a ticket by hand only for a customer they serve or one
-- they just added (added by them and with no tickets yet), so this is part of that rule.
ALTER TABLE customers ADD COLUMN created_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
