import nlp from "compromise";
import { STOPWORDS } from "./embedding";
import { analysisPrefix } from "./text-limits";

/** What the assistant remembers about a user, merged turn after turn. */
export interface Entities {
  name?: string;
  email?: string;
  phone?: string;
  people?: string[];
  dates?: string[];
  amounts?: string[];
  urls?: string[];
}

export type Intent = "greeting" | "farewell" | "recall" | "question" | "request" | "inform" | "thanks";

const MONTH = "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*";
const WEEKDAY = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)";
const DATE = new RegExp(
  [
    "\\b(\\d{4}-\\d{2}-\\d{2}",
    `${MONTH}\\.? \\d{1,2}(?:st|nd|rd|th)?(?:,? \\d{4})?`,
    `\\d{1,2}(?:st|nd|rd|th)? (?:of )?${MONTH}(?: \\d{4})?`,
    "today|tomorrow|yesterday",
    `next (?:week|month|year|${WEEKDAY.slice(3, -1)})`,
    `(?:on )?${WEEKDAY})\\b`,
  ].join("|"),
  "gi",
);
// An address starts only where a run of local-part characters starts (the lookbehind): without it, a
// failed match was retried from every position inside the run, each scanning to the run's end, which is
// quadratic on text like "a@" + "a." × 16 000 (2.5 s for 32 000 characters). Matches are the same: the
// local part read from any position of a run ends at the same "@" as from its start.
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// The phrase in any case ("My name is" opens a sentence); the name itself capitalized, so "I'm tired" is no name.
const NAME_INTRO =
  /\b(?:[Mm][Yy] [Nn][Aa][Mm][Ee] [Ii][Ss]|[Ii] [Aa][Mm]|[Ii]'[Mm]|[Cc][Aa][Ll][Ll] [Mm][Ee])\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)/;

/**
 * Entities found in a text, by the offline NLP library (compromise) plus a few patterns that are linear
 * in the text. Reads all of `text` (workflows pass whole chunks): agents pass a bounded prefix, and the
 * server runs it in the text worker pool (server/agents/text-pool.ts), not on the event loop.
 */
export function extractEntities(text: string): Entities {
  const doc = nlp(text);
  const found: Entities = {};
  const { email, name, dates } = patternEntities(text);
  if (email) found.email = email;
  const phones = doc.phoneNumbers().out("array") as string[];
  if (phones.length) found.phone = phones[phones.length - 1];
  const people = (doc.people().out("array") as string[]).map(trimTrailingPunctuation);
  if (name) found.name = name;
  if (people.length) found.people = [...new Set(people)];
  const amounts = doc.money().out("array") as string[];
  if (amounts.length) found.amounts = amounts.map(trimTrailingPunctuation);
  if (dates) found.dates = dates;
  const urls = doc.urls().out("array") as string[];
  if (urls.length) found.urls = urls;
  return found;
}

/** The entities found by patterns alone (no NLP library): each pattern runs in time linear in the text. */
export function patternEntities(text: string): Pick<Entities, "email" | "name" | "dates"> {
  const found: Pick<Entities, "email" | "name" | "dates"> = {};
  const emails = text.match(EMAIL) ?? [];
  if (emails.length) found.email = emails[emails.length - 1];
  const intro = NAME_INTRO.exec(text);
  if (intro) found.name = intro[1];
  const dates = [...text.matchAll(DATE)].map((m) => m[1]!.replace(/^on /i, ""));
  if (dates.length) found.dates = [...new Set(dates)];
  return found;
}

/** Later facts win for single-valued entities; lists accumulate (bounded). */
export function mergeEntities(known: Entities, found: Entities): Entities {
  const merged: Entities = { ...known };
  for (const k of ["name", "email", "phone"] as const) if (found[k]) merged[k] = found[k];
  for (const k of ["people", "dates", "amounts", "urls"] as const) {
    if (found[k]?.length) merged[k] = [...new Set([...(known[k] ?? []), ...found[k]!])].slice(-20);
  }
  return merged;
}

/** The intent of a message, from its first AGENT_TEXT_PREFIX_CHARS characters (patterns linear in the text). */
export function detectIntent(text: string): Intent {
  const t = analysisPrefix(text).trim().toLowerCase();
  if (/^(hi|hello|hey|good (morning|afternoon|evening))\b/.test(t)) return "greeting";
  if (/\b(bye|goodbye|see you|that's all)\b/.test(t)) return "farewell";
  if (/\b(thanks|thank you)\b/.test(t)) return "thanks";
  // "Can you note that John Smith will join?" tells something; it is not a question.
  if (/^(?:(?:can|could|would|will) you |please )?(?:note|remember|keep in mind|write down|jot down) that\b/.test(t))
    return "inform";
  if (
    /\b(what|which|who|when|where)('s| is| are| was| were)? (my|me)\b|\bhow much (is|was|are|were) my\b/.test(t) ||
    /\bdo you (remember|know) my\b|\bwhat did i (say|tell)/.test(t)
  )
    return "recall";
  if (t.endsWith("?") || /^(what|why|how|when|where|who|which|can|could|is|are|do|does)\b/.test(t)) return "question";
  if (/^(please|can you|could you|i need|i want|book|schedule|send|find|remind)\b/.test(t)) return "request";
  return "inform";
}

/** A statement that named something worth recalling, kept with what was found in it. */
export interface Fact {
  turn: number;
  text: string;
  entities: Entities;
}

/** How many facts a session keeps (the newest), and how much of each statement. */
export const MAX_FACTS = 20;
export const MAX_FACT_CHARS = 300;

/** The embedder's stopwords and the words of asking and telling, which say nothing of a fact's subject. */
const FACT_STOPWORDS = new Set([
  ...STOPWORDS,
  ..."whom mine yours its much many did tell told said say mention mentioned gave give remember note know here".split(
    " ",
  ),
]);

/** The content words of a text, lowercased; with `stem`, crudely stemmed (plural and -ing/-ed endings dropped). */
export function contentWords(text: string, stem = true): Set<string> {
  const words =
    analysisPrefix(text)
      .toLowerCase()
      .match(/[a-z][a-z']+/g) ?? [];
  const kept = words.filter((w) => w.length > 2 && !FACT_STOPWORDS.has(w)).map((w) => w.replace(/'s$/, ""));
  return new Set(stem ? kept.map((w) => w.replace(/(ing|ed|es|s)$/, "") || w) : kept);
}

/** What kind of entity a question asks for, by its question word. */
export function askedKind(question: string): keyof Entities | undefined {
  const t = analysisPrefix(question).toLowerCase();
  if (/\bwhen\b|\bwhat (day|date|time)\b/.test(t)) return "dates";
  if (/\bwho\b/.test(t)) return "people";
  if (/\bhow much\b|\b(cost|price|amount|budget)\b/.test(t)) return "amounts";
  if (/\b(link|url|site)\b/.test(t)) return "urls";
  return undefined;
}

/**
 * The remembered statement a question is about: the newest one sharing the most content words with it
 * (and holding the kind of entity asked for, when the question asks for one). None when nothing overlaps.
 */
export function matchFact(question: string, facts: readonly Fact[]): Fact | undefined {
  const asked = contentWords(question);
  const kind = askedKind(question);
  let best: { fact: Fact; score: number } | undefined;
  for (const fact of facts) {
    if (kind && !(fact.entities[kind]?.length ?? 0)) continue;
    const words = contentWords(fact.text);
    let score = 0;
    for (const w of asked) if (words.has(w)) score++;
    if (score > 0 && (!best || score >= best.score)) best = { fact, score };
  }
  return best?.fact;
}

/** Which remembered fact a recall question asks for, if any. */
export function recallTarget(text: string): keyof Entities | undefined {
  const t = analysisPrefix(text).toLowerCase();
  if (/\bemail\b/.test(t)) return "email";
  if (/\bname\b/.test(t)) return "name";
  if (/\b(phone|number)\b/.test(t)) return "phone";
  if (/\b(date|when|day)\b/.test(t)) return "dates";
  if (/\b(amount|money|budget|price|cost)\b/.test(t)) return "amounts";
  if (/\b(link|url|site)\b/.test(t)) return "urls";
  return undefined;
}

/** An extractive summary line for a turn that leaves the window: its first sentence, bounded. */
export function summarizeTurn(turn: number, user: string): string {
  const first = analysisPrefix(user)
    .split(/(?<=[.!?])\s/)[0]!
    .trim();
  return `#${turn}: ${first.length > 160 ? `${first.slice(0, 157)}...` : first}`;
}

/** "Ann Lee." → "Ann Lee"; a loop, since /[.,!?]+$/ backtracks quadratically on long runs of punctuation. */
function trimTrailingPunctuation(s: string): string {
  let end = s.length;
  while (end > 0 && ".,!?".includes(s[end - 1]!)) end--;
  return s.slice(0, end);
}
