-- Fewer pages written per event: retention walks events by id (ids grow with received_at),
-- and tag searches go through issue_tags' primary key (issue_id, key, value).
DROP INDEX events_received;
DROP INDEX issue_tags_key_value;
