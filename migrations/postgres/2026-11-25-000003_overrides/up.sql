-- Attributes QA fakes for a tester; they win over answers and start attributes.
CREATE TABLE overrides (
    user_id    TEXT PRIMARY KEY REFERENCES testers (user_id) ON DELETE CASCADE,
    attributes TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
