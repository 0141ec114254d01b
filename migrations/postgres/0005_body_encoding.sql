-- Request-log bodies may be stored compressed; this says how (NULL: as received).
ALTER TABLE deliveries ADD COLUMN body_encoding TEXT;
