-- The memories' and Store items' full-text vector, computed once per write instead of for every
-- matching row of every search: ranking (ts_rank_cd) needs the vector of each row that matched, and a
-- question's common word ("user") matches nearly all of a user's memories (measured on 10 000 of them:
-- 190 ms to rank with the expression, 18 ms with the stored column). Other namespaces store NULL.
ALTER TABLE "state_records" ADD COLUMN "search_text" tsvector GENERATED ALWAYS AS (
  CASE WHEN namespace IN ('memories', 'store') THEN to_tsvector('english'::regconfig, (value->>'text')) END
) STORED;

DROP INDEX "state_records_text_search_idx";
CREATE INDEX "state_records_text_search_idx" ON "state_records" USING gin ("search_text")
  WHERE namespace IN ('memories', 'store');
