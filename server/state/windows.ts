// Rolling windows: the engine keeps list fields to their newest items and folds the rest into a summary.
import { analysisPrefix } from "./text-prefix";
import type { NamespacePolicy, WindowPolicy } from "./namespaces";

/**
 * Rolling windows on list fields (design: State model). A namespace's policy names list fields that
 * keep only their newest items, by count and by total bytes; the items that fall out are folded into a
 * compact summary field by a summarizer, and (optionally) counted in a field. Applied to every write of
 * the namespace, so state stays bounded however it is written (agent turns, PUT, PATCH, transactions).
 */

/** Folds the items that left a window into the previous summary. */
export interface WindowSummarizer {
  readonly name: string;
  summarize(previous: string, dropped: readonly unknown[], window: WindowPolicy): Promise<string>;
}

export interface WindowBudget {
  field: string;
  items: { used: number; max: number };
  bytes: { used: number; max: number | null };
}

const STOPWORDS = new Set(
  (
    "about above after again against because been before being below between both could does doing down during each " +
    "from further have having here hers herself himself " +
    "into itself just more most myself once only other ours ourselves over same should some such than that their " +
    "theirs them themselves then there these they this those " +
    "through under until very were what when where which while whom with would your yours yourself yourselves also " +
    "like want need tell know please thanks thank hello okay sure " +
    "will shall might must much many make made really still even well back just into onto upon"
  ).split(" "),
);

/**
 * A line for one item: a conversation turn by its user text, anything else by its JSON — the first
 * AGENT_TEXT_PREFIX_CHARS characters only, since this runs on the event loop with every windowed write.
 */
function itemText(item: unknown): { label: string; text: string } {
  if (item && typeof item === "object" && !Array.isArray(item)) {
    const o = item as Record<string, unknown>;
    const text =
      typeof o.user === "string"
        ? o.user
        : typeof o.text === "string"
          ? o.text
          : typeof o.content === "string"
            ? o.content
            : JSON.stringify(item);
    return { label: typeof o.turn === "number" ? `#${o.turn}` : "-", text: analysisPrefix(text) };
  }
  return { label: "-", text: analysisPrefix(typeof item === "string" ? item : JSON.stringify(item)) };
}

function firstSentence(text: string, max = 160): string {
  const first = text
    .split(/(?<=[.!?])\s/)[0]!
    .trim()
    .replace(/\s+/g, " ");
  return first.length > max ? `${first.slice(0, max - 3)}...` : first;
}

/**
 * The default, offline summarizer. The summary has two parts, both bounded: a "Topics:" line counting
 * the most frequent content words of everything that ever left the window (so the oldest turns are still
 * represented after thousands of turns), and the first sentence of the most recently dropped items.
 */
export class ExtractiveSummarizer implements WindowSummarizer {
  readonly name = "extractive";
  constructor(private readonly options: { maxChars?: number; topics?: number } = {}) {}

  async summarize(previous: string, dropped: readonly unknown[], _window?: WindowPolicy): Promise<string> {
    const maxChars = this.options.maxChars ?? 4000;
    const { topics, lines } = parseSummary(previous);
    for (const item of dropped) {
      const { label, text } = itemText(item);
      lines.push(`${label}: ${firstSentence(text)}`);
      for (const word of text.toLowerCase().match(/[\p{L}][\p{L}\p{N}'-]{3,}/gu) ?? []) {
        if (!STOPWORDS.has(word)) topics.set(word, (topics.get(word) ?? 0) + 1);
      }
    }
    const top = [...topics].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, this.options.topics ?? 24);
    const head = top.length ? `Topics: ${top.map(([w, n]) => `${w} (${n})`).join(", ")}` : "";
    // Newest lines first until the budget is spent, then back in order.
    const kept: string[] = [];
    let used = head.length;
    for (let i = lines.length - 1; i >= 0 && used + lines[i]!.length + 1 <= maxChars; i--) {
      kept.unshift(lines[i]!);
      used += lines[i]!.length + 1;
    }
    return [head, ...kept].filter(Boolean).join("\n");
  }
}

function parseSummary(summary: string): { topics: Map<string, number>; lines: string[] } {
  const topics = new Map<string, number>();
  const lines = summary ? summary.split("\n") : [];
  if (lines[0]?.startsWith("Topics: ")) {
    // Entry by entry ("word (n)", comma-separated): the summary may have been written by any client, and
    // one unanchored lazy pattern over the whole line backtracks quadratically on a long comma-free line.
    for (const entry of lines.shift()!.slice(8).split(",")) {
      const open = entry.lastIndexOf(" (");
      const count = open >= 0 && entry.endsWith(")") ? entry.slice(open + 2, -1) : "";
      const word = entry.slice(0, open).trim();
      if (word && !word.includes("(") && /^\d{1,15}$/.test(count)) topics.set(word, Number(count));
    }
  }
  return { topics, lines };
}

/** Asks a language model to fold dropped items into the summary; the extractive one answers when it fails. */
export class ModelSummarizer implements WindowSummarizer {
  readonly name: string;
  constructor(
    private readonly complete: (prompt: string) => Promise<string>,
    modelName: string,
    private readonly fallback: WindowSummarizer = new ExtractiveSummarizer(),
    private readonly maxChars = 4000,
  ) {
    this.name = `model:${modelName}`;
  }

  async summarize(previous: string, dropped: readonly unknown[], window: WindowPolicy): Promise<string> {
    const items = dropped.map((d) => {
      const { label, text } = itemText(d);
      return `${label}: ${text.slice(0, 2000)}`;
    });
    try {
      const text = await this.complete(
        `Update the running summary of a conversation. Keep every fact, name, preference and open question; be ` +
          `brief; at most ${this.maxChars} characters.\n\n` +
          `Current summary:\n${previous || "(empty)"}\n\nTurns to add:\n${items.join("\n")}\n\nUpdated summary:`,
      );
      if (text.trim()) return text.trim().slice(0, this.maxChars);
    } catch {
      // fall through: a summary is never lost because the model is down
    }
    return this.fallback.summarize(previous, dropped, window);
  }
}

/**
 * Cuts each windowed list field of `value` to its newest items (by count, then by bytes, always keeping
 * the newest one) and folds what fell out into the summary field. Returns the value to store (a copy when
 * anything changed) and how many items were dropped.
 */
export async function applyWindows(
  policy: NamespacePolicy,
  value: unknown,
  summarizer: WindowSummarizer,
): Promise<{ value: unknown; dropped: number }> {
  if (policy.windows.length === 0 || !value || typeof value !== "object" || Array.isArray(value))
    return { value, dropped: 0 };
  let result = value as Record<string, unknown>;
  let dropped = 0;
  for (const window of policy.windows.map((w) => ownWindow(w, value))) {
    const list = result[window.field];
    if (!Array.isArray(list)) continue;
    const keep = cut(list, window);
    if (keep === list.length) continue;
    const out = list.slice(0, list.length - keep);
    result = { ...result, [window.field]: list.slice(list.length - keep) };
    if (window.summaryField) {
      const previous = typeof result[window.summaryField] === "string" ? (result[window.summaryField] as string) : "";
      result[window.summaryField] = await summarizer.summarize(previous, out, window);
    }
    if (window.countField)
      result[window.countField] =
        (typeof result[window.countField] === "number" ? (result[window.countField] as number) : 0) + out.length;
    dropped += out.length;
  }
  return { value: result, dropped };
}

/** The window a record chose for itself (WindowPolicy.perRecordField), never wider than the policy's. */
function ownWindow(window: WindowPolicy, value: object): WindowPolicy {
  const own = window.perRecordField ? (value as Record<string, unknown>)[window.perRecordField] : undefined;
  if (!own || typeof own !== "object") return window;
  const { maxItems, maxBytes, summarize } = own as Record<string, unknown>;
  const narrower = (limit: unknown, max: number) =>
    typeof limit === "number" && limit >= 1 ? Math.min(max, Math.floor(limit)) : max;
  return {
    ...window,
    maxItems: narrower(maxItems, window.maxItems),
    maxBytes: narrower(maxBytes, window.maxBytes ?? Number.MAX_SAFE_INTEGER),
    summaryField: summarize === false ? undefined : window.summaryField,
  };
}

/** How many of the newest items fit the window. */
function cut(list: readonly unknown[], window: WindowPolicy): number {
  let keep = Math.min(list.length, window.maxItems);
  if (window.maxBytes === undefined) return keep;
  let bytes = 2 + Math.max(0, keep - 1); // brackets and commas of the JSON array
  const sizes = list.map((item) => Buffer.byteLength(JSON.stringify(item) ?? "null"));
  let fit = 0;
  for (let i = list.length - 1; i >= list.length - keep; i--) {
    bytes += sizes[i]!;
    if (bytes > window.maxBytes && fit > 0) break;
    fit++;
  }
  keep = fit;
  return keep;
}

/** What each window of the namespace holds of its allowance, for reads to report. */
export function windowBudget(policy: NamespacePolicy, value: unknown): WindowBudget[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return [];
  return policy.windows
    .map((w) => ownWindow(w, value))
    .flatMap((w) => {
      const list = (value as Record<string, unknown>)[w.field];
      if (!Array.isArray(list)) return [];
      return [
        {
          field: w.field,
          items: { used: list.length, max: w.maxItems },
          bytes: { used: Buffer.byteLength(JSON.stringify(list)), max: w.maxBytes ?? null },
        },
      ];
    });
}
