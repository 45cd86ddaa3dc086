import { z } from "zod";
import { type Entities, extractEntities } from "../agents/nlp";
import { InvalidError, StateError } from "../state/errors";
import type { StepDefinition, WorkflowType } from "./types";

/** Documents over this many bytes of UTF-8 are refused (413) before a run starts. */
export const MAX_DOCUMENT_BYTES = 512 * 1024;
const MAX_CHUNKS = 500;
/** About this many checkpoints per run at most: each checkpoint rewrites the whole record (and its history row). */
const TARGET_CHECKPOINTS = 20;

const DocumentInput = z
  .object({
    document: z.string().min(1, "the document is empty"),
    /** Target chunk length in characters; chunks end at a sentence or paragraph boundary when one is near. */
    chunkChars: z.number().int().min(200).max(20_000).default(2000),
    title: z.string().max(200).optional(),
  })
  .strict();

export type DocumentInput = z.infer<typeof DocumentInput>;

interface ChunkAnalysis {
  chunk: number;
  chars: number;
  entities: Entities;
  summary: string[];
}

/** Half-open [start, end) character ranges covering the text, cut after a sentence end when one is within the last fifth. */
export function chunkRanges(text: string, chunkChars: number): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + chunkChars);
    if (end < text.length) {
      const window = text.slice(start + Math.floor(chunkChars * 0.8), end);
      const cut = Math.max(
        window.lastIndexOf("\n\n"),
        window.lastIndexOf(". "),
        window.lastIndexOf("? "),
        window.lastIndexOf("! "),
      );
      if (cut >= 0) end = start + Math.floor(chunkChars * 0.8) + cut + 1;
    }
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}

const STOP = new Set(
  (
    "the and that this with from have were been their there which would could about into than then them they what when " +
    "where your will shall also some such only other more most very just over under"
  ).split(" "),
);

/** Extractive summary: the `count` sentences with the most frequent content words, in document order. */
export function summarize(text: string, count = 2): string[] {
  const sentences = text
    .split(/(?<=[.!?])\s+|\n{2,}/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const words = (s: string) => (s.toLowerCase().match(/[a-z][a-z'-]{3,}/g) ?? []).filter((w) => !STOP.has(w));
  const freq = new Map<string, number>();
  for (const s of sentences) for (const w of words(s)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const scored = sentences.map((s, i) => {
    const ws = words(s);
    return { i, s, score: ws.length ? ws.reduce((sum, w) => sum + freq.get(w)!, 0) / Math.sqrt(ws.length) : 0 };
  });
  return scored
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, count)
    .sort((a, b) => a.i - b.i)
    .map(({ s }) => (s.length > 300 ? `${s.slice(0, 297)}...` : s));
}

function mergeAll(parts: readonly Entities[]): Entities {
  const merged: Record<string, string[]> = {};
  for (const e of parts) {
    for (const [k, v] of Object.entries(e)) {
      const values = Array.isArray(v) ? v : [v];
      merged[k] = [...new Set([...(merged[k] ?? []), ...values.map(String)])].slice(0, 100);
    }
  }
  return merged as Entities;
}

/**
 * `document-analysis`: split a document into chunks (step 1), extract entities and an extractive
 * summary from each chunk with the built-in offline NLP (one step per chunk), then aggregate (last step).
 */
export function documentAnalysisWorkflow(): WorkflowType<DocumentInput> {
  const split: StepDefinition<DocumentInput> = {
    name: "split",
    run: async ({ input }) => ({ chunks: chunkRanges(input.document, input.chunkChars) }),
  };
  const analyze = (i: number): StepDefinition<DocumentInput> => ({
    name: `analyze chunk ${i + 1}`,
    async run({ input, results }) {
      const [start, end] = (results[0] as { chunks: [number, number][] }).chunks[i]!;
      const text = input.document.slice(start, end);
      return {
        chunk: i + 1,
        chars: text.length,
        entities: extractEntities(text),
        summary: summarize(text),
      } satisfies ChunkAnalysis;
    },
  });
  const aggregate: StepDefinition<DocumentInput> = {
    name: "aggregate",
    async run({ input, results }) {
      const chunks = results.slice(1) as ChunkAnalysis[];
      return {
        title: input.title ?? null,
        chars: input.document.length,
        chunks: chunks.length,
        entities: mergeAll(chunks.map((c) => c.entities)),
        summary: chunks.flatMap((c) => c.summary.slice(0, 1)).slice(0, 20),
      };
    },
  };
  return {
    name: "document-analysis",
    description: "Split a document into chunks, extract entities and a summary per chunk, aggregate",
    input: DocumentInput,
    checkInput(input) {
      const bytes = Buffer.byteLength(input.document, "utf8");
      if (bytes > MAX_DOCUMENT_BYTES) {
        throw new StateError(
          "too_large",
          `the document is ${bytes} bytes; at most ${MAX_DOCUMENT_BYTES} are accepted`,
          { sizeBytes: bytes, limitBytes: MAX_DOCUMENT_BYTES },
        );
      }
      const chunks = chunkRanges(input.document, input.chunkChars).length;
      if (chunks > MAX_CHUNKS)
        throw new InvalidError(`the document makes ${chunks} chunks, over ${MAX_CHUNKS}: use a larger chunkChars`, {
          field: "input.chunkChars",
        });
    },
    steps: (input) => [split, ...chunkRanges(input.document, input.chunkChars).map((_, i) => analyze(i)), aggregate],
    result: (_input, results) => results[results.length - 1],
    maxAttempts: 3,
    backoffMs: 1000,
    checkpointEvery: (input) =>
      Math.max(1, Math.ceil(chunkRanges(input.document, input.chunkChars).length / TARGET_CHECKPOINTS)),
  };
}
