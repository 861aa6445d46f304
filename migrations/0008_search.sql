-- 0008: search over chunk embeddings without pgvector (not packaged for Debian bookworm).
-- Vectors stay real[]; the model that made a vector is recorded next to it, so that semantic search only
-- compares vectors of one model ("hashed-v1-256" from the builtin provider, or the openai embedding model).

ALTER TABLE chunks ADD COLUMN IF NOT EXISTS embedding_model text;

CREATE INDEX IF NOT EXISTS chunks_embedding_model ON chunks (embedding_model) WHERE embedding IS NOT NULL;

-- Cosine similarity of two real[] of equal length; NULL when the lengths differ or a vector is all zero.
CREATE OR REPLACE FUNCTION aegis_cosine(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(a) <> cardinality(b) THEN NULL
                ELSE sum(x::double precision * y) / nullif(sqrt(sum(x::double precision * x)) * sqrt(sum(y::double precision * y)), 0)
           END
    FROM unnest(a, b) AS t(x, y)
$$;
