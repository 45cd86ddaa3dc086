// Reading the reference pages (README.md and docs/*.md) in tests: sections by heading, tables as cells, anchors.
// Tables are compared by their cells, so a Markdown formatter that pads the columns changes nothing.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");

/** Every page of the reference, as paths relative to the repository root: README.md first, then docs/. */
export function docPages(): string[] {
  const docs = readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

/** The text of a page, by its path relative to the repository root (e.g. "docs/api.md"). */
export function readPage(page: string): string {
  return readFileSync(path.join(ROOT, page), "utf8");
}

/**
 * The part of `text` under the heading whose title is `title` (any level), up to the next heading of the
 * same or a higher level. Throws when the heading is missing, so a renamed section fails loudly.
 */
export function section(text: string, title: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, "").trim() === title);
  if (start < 0) throw new Error(`no heading "${title}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const m = /^(#{1,6}) /.exec(lines[i]!);
    if (m && m[1]!.length <= level && !insideFence(lines, i)) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join("\n");
}

function insideFence(lines: string[], index: number): boolean {
  let open = false;
  for (let i = 0; i < index; i++) if (lines[i]!.startsWith("```")) open = !open;
  return open;
}

/**
 * The tables of a Markdown text, each as rows of trimmed cells (header row first, the `---` row left
 * out). Cells split on `|` unless escaped as `\|`, as GitHub-flavoured Markdown does.
 */
export function tables(text: string): string[][][] {
  const found: string[][][] = [];
  let current: string[][] | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith("|")) {
      current = undefined;
      continue;
    }
    if (/^\|[\s:|-]+\|$/.test(line)) continue;
    if (!current) found.push((current = []));
    current.push(cells(line));
  }
  return found;
}

function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((c) => c.trim());
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and `<a id="…">`. */
export function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (insideFence(lines, i)) return;
    const heading = /^#{1,6} (.+)$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      found.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a id="([^"]+)"/g)) found.add(m[1]!);
  });
  return found;
}
