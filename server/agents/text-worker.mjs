// Entry of the text pool's worker threads (server/agents/text-pool.ts). Node 20 does not carry the
// loader hooks of `node --import tsx` into worker threads, so the TypeScript module is loaded through
// tsx's scoped loader; this file stays plain JavaScript so the worker can start at all.
import { tsImport } from "tsx/esm/api";

const { analyzeText } = await tsImport("./text-analysis.ts", import.meta.url);
// Warm up (the NLP library builds its lexicon on first use) while the worker boots: boot time is not
// counted against a task's budget, so the first task after a recycle is not the one that pays for it.
analyzeText({ text: "Hi, my name is Ann Lee: ann@example.com, $5 on Monday, https://example.com", embed: true });

/** One task: tells the pool it has begun (its time budget starts now), then does the work. */
export default function analyze({ started, ...task }) {
  if (started) {
    const flag = new Int32Array(started);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }
  return analyzeText(task);
}
