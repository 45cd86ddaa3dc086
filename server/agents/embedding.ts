import { analysisPrefix } from "./text-limits";

/**
 * A local, offline text embedding: feature hashing of a message's words and word pairs into a fixed
 * number of dimensions (signed, so collisions cancel rather than pile up), L2-normalized. No model file,
 * no download; similar wording gives similar vectors, which is what picking up earlier topics needs.
 */
export const EMBEDDING_MODEL = "hashed-bow-v1";
export const EMBEDDING_DIM = 256;
/** Earlier topics kept per session profile (newest last). */
export const PROFILE_TOPICS = 20;
/** Below this cosine similarity an earlier topic is not worth mentioning. */
export const RELATED_MIN_SIMILARITY = 0.2;

/** Words too common to carry a topic. */
export const STOPWORDS = new Set(
  (
    "a an and are as at be but by can could do does for from had has have hi hello hey how i i'm if in is it it's me " +
    "my of on or our please so that the their them then there these they this to us was we were what when where " +
    "which who why will with would you your yes no not just also about again should shall may might must am " +
    "been being into than too very"
  ).split(" "),
);

export type Vector = Float64Array;
/** A sparse vector as stored: [index, weight] pairs of the non-zero dimensions. */
export type SparseVector = [number, number][];

/** The session's model state in the `embeddings` namespace. */
export interface SessionProfile {
  model: string;
  dim: number;
  /** User messages folded in. */
  messages: number;
  /** Mean direction of the user's messages: what the session is about. */
  vector: number[];
  /** Recent messages with their embeddings, to find the earlier topic closest to a new message. */
  topics: { turn: number; text: string; terms: SparseVector }[];
}

export interface RelatedTopic {
  turn: number;
  text: string;
  similarity: number;
}

/** Content words of the text's first AGENT_TEXT_PREFIX_CHARS characters (one linear pattern). */
export function tokenize(text: string): string[] {
  return (
    analysisPrefix(text)
      .toLowerCase()
      .match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? []
  ).filter((t) => t.length > 1 && !STOPWORDS.has(t));
}

/** The embedding of a text; the zero vector when it has no content words. */
export function embed(text: string, dim = EMBEDDING_DIM): Vector {
  const v = new Float64Array(dim);
  const tokens = tokenize(text);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    v[h % dim]! += h & 0x80000000 ? -weight : weight;
  };
  tokens.forEach((t, i) => {
    add(t, 1);
    if (i > 0) add(`${tokens[i - 1]} ${t}`, 0.5);
  });
  return normalize(v);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * (b[i] ?? 0);
    na += a[i]! * a[i]!;
    nb += (b[i] ?? 0) * (b[i] ?? 0);
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export function toSparse(v: Vector): SparseVector {
  const out: SparseVector = [];
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) out.push([i, round4(v[i]!)]);
  return out;
}

export function fromSparse(s: SparseVector, dim = EMBEDDING_DIM): Vector {
  const v = new Float64Array(dim);
  for (const [i, w] of s) if (i >= 0 && i < dim) v[i] = w;
  return v;
}

/** The earlier topic most similar to `message`, if any is similar enough. */
export function relatedTopic(profile: SessionProfile | undefined, message: Vector): RelatedTopic | undefined {
  if (!profile || profile.model !== EMBEDDING_MODEL) return undefined;
  let best: RelatedTopic | undefined;
  for (const t of profile.topics) {
    const similarity = cosine(message, fromSparse(t.terms, profile.dim));
    if (similarity >= RELATED_MIN_SIMILARITY && (!best || similarity > best.similarity))
      best = { turn: t.turn, text: t.text, similarity: round4(similarity) };
  }
  return best;
}

/** Folds one user message into the profile (a new profile when there is none or its model changed). */
export function withMessage(
  profile: SessionProfile | undefined,
  turn: number,
  text: string,
  message: Vector = embed(text),
): SessionProfile {
  const base = profile && profile.model === EMBEDDING_MODEL && profile.dim === message.length ? profile : undefined;
  const n = base?.messages ?? 0;
  const vector = Array.from(message, (x, i) => round4(((base?.vector[i] ?? 0) * n + x) / (n + 1)));
  const topics = base?.topics ?? [];
  const terms = toSparse(message);
  return {
    model: EMBEDDING_MODEL,
    dim: message.length,
    messages: n + 1,
    vector,
    topics: terms.length === 0 ? topics : [...topics, { turn, text: text.slice(0, 160), terms }].slice(-PROFILE_TOPICS),
  };
}

function normalize(v: Vector): Vector {
  let norm = 0;
  for (const x of v) norm += x * x;
  if (norm === 0) return v;
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < v.length; i++) v[i]! *= scale;
  return v;
}

/** 32-bit FNV-1a: fast, stable across processes and versions (the stored vectors depend on it). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
