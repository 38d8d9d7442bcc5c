DROP TABLE sessions;
DROP TABLE users;
DROP TABLE channel_history;
DROP TABLE approvals;
