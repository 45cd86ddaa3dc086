// The test runner behind `npm test`: node's own runner, in two phases reported as one TAP stream.
// Phase 1 runs every test file two at a time (the machine has 2 cores). Phase 2 runs the files under
// test/solo/ one at a time with nothing else running: they assert latency (p90 of one tenant while
// another is hostile, requests while Redis is paused), which a parallel test file would make flaky.
// The summary (`# tests`, `# pass`, `# fail`, …) is the sum of both phases, so CI reads one summary.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { run } from "node:test";
import { tap } from "node:test/reporters";

const root = path.resolve(import.meta.dirname, "..");
const given = process.argv.slice(2);
const files = (
  given.length
    ? given
    : execFileSync("find", ["test", "-name", "*.test.ts", "-not", "-path", "*/node_modules/*"], {
        cwd: root,
        encoding: "utf8",
      })
        .split("\n")
        .filter(Boolean)
        .sort()
).map((f) => path.resolve(root, f));
const isSolo = (f) => path.relative(root, f).split(path.sep).includes("solo");
const phases = [
  { files: files.filter((f) => !isSolo(f)), concurrency: 2 },
  { files: files.filter(isSolo), concurrency: 1 },
].filter((p) => p.files.length > 0);

const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/;

/** Both phases' events as one stream: top-level test numbers continue, summaries are added up. */
async function* events() {
  const totals = new Map();
  let offset = 0;
  for (const phase of phases) {
    let count = 0;
    for await (const event of run({ files: phase.files, concurrency: phase.concurrency, timeout: 600_000 })) {
      const top = event.data?.nesting === 0;
      if (top && event.type === "test:diagnostic" && SUMMARY.test(event.data.message)) {
        const [, name, value] = SUMMARY.exec(event.data.message);
        totals.set(name, (totals.get(name) ?? 0) + Number(value));
        continue;
      }
      if (top && event.type === "test:plan") continue;
      if (top && (event.type === "test:pass" || event.type === "test:fail")) {
        count = Math.max(count, event.data.testNumber);
        yield { ...event, data: { ...event.data, testNumber: event.data.testNumber + offset } };
        continue;
      }
      yield event;
    }
    offset += count;
  }
  yield { type: "test:plan", data: { nesting: 0, count: offset } };
  for (const [name, value] of totals) {
    yield {
      type: "test:diagnostic",
      data: { nesting: 0, message: `${name} ${name === "duration_ms" ? value.toFixed(3) : value}` },
    };
  }
  if ((totals.get("fail") ?? 0) > 0 || (totals.get("cancelled") ?? 0) > 0) process.exitCode = 1;
}

for await (const line of tap(events())) process.stdout.write(line);
