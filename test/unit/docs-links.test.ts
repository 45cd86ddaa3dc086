// The README and docs/ link to each other by relative paths and anchors; a moved file or a renamed heading
// must not leave a link pointing nowhere. Also: every docs/ page is reachable from the README.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { anchors, docPages, ROOT, readPage, slug } from "../helpers/docs";

/** Relative link targets of a page (external links, and anything in code, left out). */
function relativeLinks(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
  const links: string[] = [];
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push(target);
  }
  return links;
}

describe("links in the README and docs/", () => {
  it("the anchors are GitHub's", () => {
    assert.equal(slug("Metrics at `GET /metrics`"), "metrics-at-get-metrics");
    assert.equal(slug("Agent text work: bounded, off the event loop"), "agent-text-work-bounded-off-the-event-loop");
    assert.equal(slug("Cold tier (the archive)"), "cold-tier-the-archive");
  });

  it("every relative link points at an existing file and, for a page, an existing anchor", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of docPages()) {
      for (const link of relativeLinks(readPage(page))) {
        checked++;
        const [file, anchor] = link.split("#") as [string, string | undefined];
        const target = file === "" ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
        if (!existsSync(path.join(ROOT, target))) {
          broken.push(`${page}: ${link} (no file ${target})`);
          continue;
        }
        if (anchor !== undefined && target.endsWith(".md") && !anchors(readPage(target)).has(anchor))
          broken.push(`${page}: ${link} (no anchor #${anchor} in ${target})`);
      }
    }
    assert.ok(checked >= 30, `${checked} links checked`);
    assert.deepEqual(broken, []);
  });

  it("the README links every docs/ page", () => {
    const linked = new Set(relativeLinks(readPage("README.md")).map((l) => l.split("#")[0]));
    const missing = docPages()
      .filter((p) => p !== "README.md")
      .filter((p) => !linked.has(p));
    assert.deepEqual(missing, []);
  });
});
