import type { ApiFixture } from "./api";

/** Sum of a metric's series on /metrics whose labels include every given label (exact values). */
export async function metricValue(api: ApiFixture, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await api.call("/metrics")).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const seen = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => seen[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Polls until `check` holds (or fails after `timeoutMs`, with the last value). */
export async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = await read();
  while (!check(last)) {
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}
