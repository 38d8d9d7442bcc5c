DROP TABLE audit_log;
DROP TABLE admin_tokens;
DROP TABLE channels;
DROP TABLE choices;
DROP TABLE scene_messages;
DROP TABLE scenes;
DROP TABLE steps;
DROP TABLE versions;
