// What a turn teaches about its user, for long-term memory, by the offline extractor: the entities that
// have one value at a time (email, name, phone: each a subject, so a new one replaces the old), explicit
// statements ("I prefer…", "remember that…", "I am…", "my X is Y"), and statements that named a date or
// an amount (events). Patterns are linear in the text and read a bounded prefix.
import type { Entities, Intent } from "../agents/nlp";
import { analysisPrefix } from "../agents/text-limits";
import type { MemoryKind } from "./memories";

export interface ExtractedMemory {
  text: string;
  kind: MemoryKind;
  subject?: string;
}

/** The most memories one turn adds. */
const MAX_PER_TURN = 5;
const MAX_STATEMENT_CHARS = 300;

const SINGLE_VALUED: [keyof Entities, string][] = [
  ["email", "email"],
  ["name", "name"],
  ["phone", "phone number"],
];

const STATEMENTS: [RegExp, MemoryKind][] = [
  [/\b(?:remember|note|keep in mind|write down) that\s+(.{3,})/i, "fact"],
  [/\bI (?:really )?(?:prefer|like|love|enjoy|hate|dislike|don't like|do not like|can't stand)\s+.{2,}/i, "preference"],
  [
    /\bI(?:'m| am) (?:a |an )?(?:vegetarian|vegan|allergic|lactose|gluten|pescatarian|diabetic|left-handed|right-handed)\b.*/i,
    "preference",
  ],
  [
    /\bI(?:'m| am) (?!going|trying|not sure|sure|here|back|fine|good|ok|okay|just|so|very|really|asking|wondering|looking)\w.{2,}/i,
    "fact",
  ],
  [/\bI (?:live|work|study) (?:in|at|for|as)\s+.{2,}/i, "fact"],
];

/** "my favourite colour is blue" → subject favourite-colour: one value at a time. */
const MY_X_IS = /\bmy ([a-z][a-z ]{1,30}?) (?:is|are) (.{1,200})/i;

/** Sentences of the message's bounded prefix. */
function sentences(message: string): string[] {
  return analysisPrefix(message)
    .split(/(?<=[.!?])\s+|\n+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Memories one user message gives, from the entities found in it and its explicit statements. */
export function memoriesFrom(message: string, found: Entities, intent: Intent): ExtractedMemory[] {
  // Questions and recall ask; anything else may tell ("Hi! My email is …", "Thanks, I'm vegan").
  if (intent === "question" || intent === "recall") return [];
  const out: ExtractedMemory[] = [];
  for (const [entity, label] of SINGLE_VALUED) {
    const value = found[entity];
    if (typeof value === "string")
      out.push({ text: `The user's ${label} is ${value}.`, kind: "fact", subject: entity });
  }
  for (const sentence of sentences(message)) {
    const text = sentence.slice(0, MAX_STATEMENT_CHARS);
    const my = MY_X_IS.exec(sentence);
    const subject = my?.[1]?.toLowerCase().trim().replace(/\s+/g, "-");
    // The single-valued entities have their memories above; the sentence may still tell more.
    if (subject && !["email", "name", "phone", "phone-number", "email-address"].includes(subject)) {
      out.push({ text, kind: "fact", subject });
      continue;
    }
    const statement = STATEMENTS.find(([pattern]) => pattern.test(sentence));
    if (statement) {
      out.push({ text, kind: statement[1] });
      continue;
    }
    // A statement that named a date or an amount: something that happens (or costs) — an event.
    if (
      (found.dates?.some((d) => sentence.includes(d)) ?? false) ||
      (found.amounts?.some((a) => sentence.includes(a)) ?? false)
    )
      out.push({ text, kind: "event" });
  }
  const seen = new Set<string>();
  return out.filter((m) => !seen.has(m.subject ?? m.text) && seen.add(m.subject ?? m.text)).slice(0, MAX_PER_TURN);
}

/**
 * What the agent's own model is asked, when it has one: the same kinds of memories as the offline
 * extractor finds, as JSON. The message goes in as the user's message, never into these instructions.
 */
export const EXTRACTION_INSTRUCTIONS = [
  "You extract long-term memories about the user from the user's message.",
  'Answer with JSON only: {"memories": [{"text": string, "kind": "fact" | "preference" | "event", "subject"?: string}]}.',
  'Each text is one short third-person statement about the user ("The user is vegetarian.").',
  'Give "subject" (lowercase words joined by "-", such as "email" or "favourite-colour") only for things that',
  'have one value at a time. Questions and small talk tell nothing: answer {"memories": []}.',
  `At most ${MAX_PER_TURN} memories.`,
].join("\n");

const SUBJECT = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * The memories in a model's answer to EXTRACTION_INSTRUCTIONS, or undefined when it is not that JSON
 * (the caller falls back to the offline extractor). A model's answer is untrusted input: kinds outside
 * the list, subjects that are not names, empty or over-long texts are dropped, at most MAX_PER_TURN kept.
 */
export function memoriesFromModel(answer: string): ExtractedMemory[] | undefined {
  // Models wrap JSON in a code fence now and then.
  const body = answer
    .trim()
    .replace(/^```(?:json)?\s*/i, "")
    .replace(/\s*```$/, "");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const list = (parsed as { memories?: unknown } | null)?.memories;
  if (!Array.isArray(list)) return undefined;
  const out: ExtractedMemory[] = [];
  for (const item of list.slice(0, 50)) {
    const { text, kind, subject } = (item ?? {}) as { text?: unknown; kind?: unknown; subject?: unknown };
    if (typeof text !== "string" || text.trim().length === 0) continue;
    if (kind !== "fact" && kind !== "preference" && kind !== "event") continue;
    const m: ExtractedMemory = { text: text.trim().slice(0, MAX_STATEMENT_CHARS), kind };
    if (typeof subject === "string" && SUBJECT.test(subject)) m.subject = subject;
    out.push(m);
  }
  const seen = new Set<string>();
  return out.filter((m) => !seen.has(m.subject ?? m.text) && seen.add(m.subject ?? m.text)).slice(0, MAX_PER_TURN);
}
