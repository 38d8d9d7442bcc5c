-- Issue 14. Text of a scene or choice in a language other than the
-- workbook's default (columns COLUMN::TAG). field is message_N (N counts the
-- scene's default bubbles from 1), placeholder, or label (choice_key set).
CREATE TABLE translations (
    version_id TEXT NOT NULL,
    scene_key  TEXT NOT NULL,
    choice_key TEXT NOT NULL DEFAULT '',
    locale     TEXT NOT NULL CHECK (length(locale) BETWEEN 1 AND 64),
    field      TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (version_id, scene_key, choice_key, locale, field),
    FOREIGN KEY (version_id, scene_key) REFERENCES scenes (version_id, key) ON DELETE CASCADE
);

-- The workbook's back column: no means users cannot go back past the scene.
ALTER TABLE scenes ADD COLUMN back_allowed BOOLEAN NOT NULL DEFAULT 1;
