// Embeddings of memories: the offline embedder (hashed bag of words, no download, no network) by default,
// or an OpenAI-compatible /embeddings endpoint. Each vector is stored with the model that made it; a
// vector of another model is re-embedded when it is next used (search compares like with like).
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { embedMany } from "ai";
import { EMBEDDING_DIM, EMBEDDING_MODEL, embed } from "../agents/embedding";
import type { Config } from "../config";
import { StateError } from "../state/errors";

export interface Embedder {
  /** Recorded with every vector, e.g. `statehouse:hashed-bow-v1` or `openai-compatible:text-embedding-3-small`. */
  readonly model: string;
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

export class OfflineEmbedder implements Embedder {
  readonly model = `statehouse:${EMBEDDING_MODEL}`;
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => Float32Array.from(embed(t, EMBEDDING_DIM)));
  }
}

/** An OpenAI-compatible embeddings endpoint, through the AI SDK (batched, one retry). */
export class RemoteEmbedder implements Embedder {
  readonly model: string;
  private readonly embeddings;

  constructor(options: { baseURL: string; model: string; apiKey?: string }) {
    this.model = `openai-compatible:${options.model}`;
    this.embeddings = createOpenAICompatible({
      name: "statehouse-embeddings",
      baseURL: options.baseURL,
      apiKey: options.apiKey,
    }).embeddingModel(options.model);
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    try {
      const { embeddings } = await embedMany({ model: this.embeddings, values: [...texts], maxRetries: 1 });
      return embeddings.map((e) => Float32Array.from(e));
    } catch {
      // The endpoint's answer (and key) stay out of the problem; the operator's logs have the rest.
      throw new StateError("unavailable", "the embeddings endpoint (EMBEDDINGS_BASE_URL) did not answer");
    }
  }
}

export function embedderFor(config: Pick<Config, "EMBEDDINGS_BASE_URL" | "EMBEDDINGS_MODEL" | "EMBEDDINGS_API_KEY">) {
  return config.EMBEDDINGS_BASE_URL
    ? new RemoteEmbedder({
        baseURL: config.EMBEDDINGS_BASE_URL,
        model: config.EMBEDDINGS_MODEL,
        apiKey: config.EMBEDDINGS_API_KEY,
      })
    : new OfflineEmbedder();
}

/** A vector as stored in a record: little-endian float32, base64 (a third of the JSON number array's size). */
export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
}

export function decodeVector(stored: string): Float32Array {
  const bytes = Buffer.from(stored, "base64");
  const copy = new Uint8Array(bytes.byteLength - (bytes.byteLength % 4));
  copy.set(bytes.subarray(0, copy.byteLength));
  return new Float32Array(copy.buffer);
}

/** Cosine similarity; 0 when either vector is zero or their lengths differ (different models). */
export function similarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
