// Hybrid ranking: full-text matches and vector similarity fused by reciprocal rank (RRF), with every
// memory that shares a stemmed word with the query ranked before those that share none.
import { STOPWORDS } from "../agents/embedding";
import { similarity } from "./embedder";

/** RRF's constant: ranks past the first few matter less, and no single list dominates. */
const RRF_K = 60;
const MAX_TERMS = 32;

/**
 * The query's words for the full-text side: letters and digits only (nothing tsquery would read as an
 * operator), stopwords dropped, at most 32. PostgreSQL stems them; they are OR-ed, since a question's
 * words are seldom all in the memory that answers it.
 */
export function searchTerms(query: string): string[] {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.filter((w) => w.length > 1 && w.length <= 64 && !STOPWORDS.has(w)))].slice(0, MAX_TERMS);
}

export interface Ranked {
  key: string;
  score: number;
  matched: boolean;
  similarity: number;
}

/**
 * Fuses the full-text ranking (`matches`, best first) with the cosine ranking of every candidate:
 * score = Σ 1/(60 + rank). Candidates neither matched nor similar at all are left out.
 */
export function fuse(
  matches: readonly { key: string }[],
  candidates: readonly { key: string; vector: Float32Array }[],
  query: Float32Array,
): Ranked[] {
  const textRank = new Map(matches.map((m, i) => [m.key, i + 1]));
  const byVector = candidates
    .map((c) => ({ key: c.key, similarity: similarity(c.vector, query) }))
    .sort((a, b) => b.similarity - a.similarity || (a.key < b.key ? -1 : 1));
  const ranked = byVector.map((c, i) => {
    const t = textRank.get(c.key);
    const score = 1 / (RRF_K + i + 1) + (t === undefined ? 0 : 1 / (RRF_K + t));
    return { key: c.key, score, matched: t !== undefined, similarity: c.similarity };
  });
  return ranked
    .filter((r) => r.matched || r.similarity > 0)
    .sort((a, b) => Number(b.matched) - Number(a.matched) || b.score - a.score || (a.key < b.key ? -1 : 1));
}
