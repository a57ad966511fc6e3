-- Payloads and metadata are kept as the JSON text the engine wrote (`json`), not as `jsonb`.
--
-- The log is appended and read whole; nothing queries inside a payload. `jsonb` made every
-- read rebuild the text from the binary form, which measured as most of the server's work in
-- a replay (about three times the cost of returning `json`, see docs/benchmarks.md), and it
-- bought nothing the engine uses. `json` still refuses text that is not JSON.
ALTER TABLE events
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN metadata TYPE json USING metadata::json;
