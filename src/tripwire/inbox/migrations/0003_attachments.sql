-- Attachments sent in an event's envelope, kept with their event (deleted with it).
-- From this version on an event body may also be the gzipped envelope it arrived in
-- (records.decompress), which older versions cannot read: hence a new schema version.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    event_row INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    attachment_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX attachments_event ON attachments (event_row);
