/**
 * Concurrent compare-and-set increments over HTTP: each client reads a counter, writes count+1 with
 * If-Match, retries on 412 and on 503. Acknowledged = answered 2xx. A request whose connection broke
 * (an instance killed mid-request) may or may not have applied: counted apart as ambiguous.
 */
export interface LoadResult {
  /** Writes answered 200, or 202 (buffered while warm was down: accepted, durable once replayed). */
  acknowledged: Map<string, number>;
  buffered: number;
  ambiguous: number;
  statuses: Map<number, number>;
  maxLatencyMs: number;
  requests: number;
}

export interface Load {
  stop(): Promise<LoadResult>;
  result: LoadResult;
}

export function startIncrementLoad(options: {
  urls: () => string[];
  apiKey: string;
  keys: string[];
  clients: number;
  namespace?: string;
}): Load {
  const ns = options.namespace ?? "kv";
  const result: LoadResult = {
    acknowledged: new Map(options.keys.map((k) => [k, 0])),
    buffered: 0,
    ambiguous: 0,
    statuses: new Map(),
    maxLatencyMs: 0,
    requests: 0,
  };
  let running = true;
  const auth = { authorization: `Bearer ${options.apiKey}` };
  const timed = async (url: string, init: RequestInit): Promise<Response> => {
    const started = performance.now();
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
      return res;
    } finally {
      result.requests++;
      result.maxLatencyMs = Math.max(result.maxLatencyMs, performance.now() - started);
    }
  };
  const client = async (n: number) => {
    let i = n;
    while (running) {
      const urls = options.urls();
      const base = urls[i % urls.length]!;
      const key = options.keys[i++ % options.keys.length]!;
      try {
        const read = await timed(`${base}/api/v1/state/${ns}/${key}`, { headers: auth });
        if (read.status !== 200) {
          await read.body?.cancel();
          await sleep(20);
          continue;
        }
        const etag = read.headers.get("etag")!;
        const { value } = (await read.json()) as { value: { count: number } };
        let write: Response;
        try {
          write = await timed(`${base}/api/v1/state/${ns}/${key}`, {
            method: "PUT",
            headers: { ...auth, "content-type": "application/json", "if-match": etag },
            body: JSON.stringify({ value: { count: value.count + 1 } }),
          });
        } catch {
          result.ambiguous++; // the write may have been applied before the connection broke
          await sleep(20);
          continue;
        }
        await write.body?.cancel();
        if (write.status === 200 || write.status === 202)
          result.acknowledged.set(key, result.acknowledged.get(key)! + 1);
        if (write.status === 202) result.buffered++;
        else if (write.status >= 500) await sleep(20);
      } catch {
        await sleep(20); // a read that could not connect: nothing was written
      }
    }
  };
  const clients = Array.from({ length: options.clients }, (_, n) => client(n));
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(clients);
      return result;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seeds each counter at {count: 0} (version 1). */
export async function seedCounters(url: string, apiKey: string, keys: string[], ns = "kv"): Promise<void> {
  for (const key of keys) {
    const res = await fetch(`${url}/api/v1/state/${ns}/${key}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: '{"value":{"count":0}}',
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`seeding ${key}: ${res.status}`);
  }
}

/** Every counter's strong (warm) and default (hot-first) read: both must show the same, latest version. */
export async function readCounters(url: string, apiKey: string, keys: string[], ns = "kv") {
  const out = new Map<string, { count: number; version: number; defaultVersion: number; defaultTier: string | null }>();
  for (const key of keys) {
    const strong = await fetch(`${url}/api/v1/state/${ns}/${key}?consistency=strong`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    const body = (await strong.json()) as { value: { count: number }; version: number };
    const plain = await fetch(`${url}/api/v1/state/${ns}/${key}`, { headers: { authorization: `Bearer ${apiKey}` } });
    const plainBody = (await plain.json()) as { version: number };
    out.set(key, {
      count: body.value.count,
      version: body.version,
      defaultVersion: plainBody.version,
      defaultTier: plain.headers.get("statehouse-tier"),
    });
  }
  return out;
}
