-- Projects, issues, events and tags. Event bodies are zlib-compressed JSON.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);

CREATE TABLE issues (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    grouping_version INTEGER NOT NULL,
    grouping_hash TEXT NOT NULL,
    grouping_components TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT NOT NULL,
    level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unresolved'
        CHECK (status IN ('unresolved', 'resolved', 'ignored')),
    is_regression INTEGER NOT NULL DEFAULT 0,
    times_seen INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    resolved_at REAL,
    UNIQUE (project_id, grouping_version, grouping_hash)
);
CREATE INDEX issues_last_seen ON issues (project_id, last_seen);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    timestamp REAL NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (project_id, event_id)
);
CREATE INDEX events_issue ON events (issue_id, id);
CREATE INDEX events_received ON events (received_at);

-- Per issue and tag value: how often it was seen (search `key:value`, the issue's tags).
CREATE TABLE issue_tags (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    times_seen INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;
CREATE INDEX issue_tags_key_value ON issue_tags (key, value);

-- Events per issue per hour, for the histogram.
CREATE TABLE issue_hours (
    issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (issue_id, hour)
) WITHOUT ROWID;

CREATE TABLE client_reports (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    reason TEXT NOT NULL,
    category TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (project_id, reason, category)
) WITHOUT ROWID;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('retention_days', '30'), ('max_events_per_issue', '1000');
