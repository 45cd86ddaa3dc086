// The load generator for the HTTP scenarios, run as its own process (so its CPU is not the server's):
// autocannon with the options given as JSON in argv[2]; prints one JSON line with the outcome.
import autocannon from "autocannon";

interface LoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Paths used in turn, one per request (e.g. one agent session each). */
  paths?: string[];
  /** A fixed request rate over all connections (a steady client, for latency under load) instead of as fast as possible. */
  overallRate?: number;
}

const o = JSON.parse(process.argv[2]!) as LoadOptions;
let n = 0;
const result = await autocannon({
  url: o.url,
  connections: o.connections,
  duration: o.durationSec,
  method: o.method ?? "GET",
  headers: o.headers,
  body: o.body,
  ...(o.overallRate ? { overallRate: o.overallRate } : {}),
  requests: o.paths ? [{ setupRequest: (req) => ({ ...req, path: o.paths![n++ % o.paths!.length]! }) }] : undefined,
});
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    elapsedSec: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  })}\n`,
);
