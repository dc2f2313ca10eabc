SQL = """
-- Redeliveries an administrator asked for wait as `webhook_delivery` rows of status 'redelivered' and attempt 0
-- until a delivery run sends them. The beat's webhook sweep asks every tenant with endpoints whether it has one
-- (events/delivery.py:_DUE, every 5 s) and each delivery run reads them (`_REDELIVERIES`): without an index
-- both read every attempt ever recorded. This partial index holds only the waiting requests (usually none).
CREATE INDEX webhook_delivery_redelivery ON webhook_delivery (id) WHERE status = 'redelivered' AND attempt = 0;
"""
