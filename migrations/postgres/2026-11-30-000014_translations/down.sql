ALTER TABLE scenes DROP COLUMN back_allowed;
DROP TABLE translations;
