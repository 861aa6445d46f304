-- 0005: validate records a disagreement between the type a file was said to
-- have (claimed MIME type, file-name extension) and the type sniffed from its
-- bytes, whether VALIDATE_MISMATCH allowed the file or rejected it.
-- NULL: no disagreement (or not checked yet); else a sentence naming both.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS type_mismatch text;
