-- Writes the check row: succeeds only where events could be appended.
INSERT INTO store_checks (id, checked_at)
VALUES (1, now())
ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at
