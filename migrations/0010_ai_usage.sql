-- 0010: token usage per document of the OpenAI-compatible provider (usage.prompt_tokens and
-- usage.completion_tokens summed over the chat and embedding requests of the job's ai step);
-- NULL for the builtin provider, which makes no requests.

ALTER TABLE ai_results ADD COLUMN IF NOT EXISTS prompt_tokens bigint;
ALTER TABLE ai_results ADD COLUMN IF NOT EXISTS completion_tokens bigint;
