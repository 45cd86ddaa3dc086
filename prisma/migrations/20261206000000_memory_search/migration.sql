-- Long-term memories and LangGraph store items are records of state_records (namespaces `memories` and
-- `store`); these partial indexes make them searchable without a second copy that could drift.
-- Full-text search over each record's `text` (English stemming; a question's terms are OR-ed).
CREATE INDEX "state_records_text_search_idx" ON "state_records"
  USING gin (to_tsvector('english'::regconfig, (value->>'text')))
  WHERE namespace IN ('memories', 'store');

-- A user's memories: every memory route, the vector scan and forgetting a user start here.
CREATE INDEX "state_records_memory_user_idx" ON "state_records" (tenant, (value->>'userId'))
  WHERE namespace = 'memories';
