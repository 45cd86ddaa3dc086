import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export interface RunningServer {
  url: string;
  port: number;
  process: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Servers this test process started: a test process that ends (or is killed by the runner's timeout) takes them with it. */
const running = new Set<ChildProcess>();
const reap = () => {
  for (const child of running) child.kill("SIGKILL");
};
process.once("exit", reap);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    reap();
    process.exit(128 + (signal === "SIGTERM" ? 15 : 2));
  });
}
/** Variables that would point a test server at something other than what the test chose. */
const INHERITED_CONFIG = [
  "DATABASE_URL",
  "REDIS_URL",
  "STATEHOUSE_DATA_DIR",
  "STATEHOUSE_ADMIN_TOKEN",
  "PORT",
  "HOST",
  "METRICS_TOKEN",
  "PROMETHEUS_URL",
];

/**
 * Starts the real process (`server/main.ts`, as `npm start` does after its build step) on a random port
 * and resolves once it logs where it listens. Needs the Next.js build (npm test makes it first).
 */
export async function startServer(
  env: Record<string, string> = {},
  options: { timeoutMs?: number } = {},
): Promise<RunningServer> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED_CONFIG.includes(k)));
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    cwd: ROOT,
    env: {
      ...base,
      NEXT_TELEMETRY_DISABLED: "1",
      HOST: "127.0.0.1",
      PORT: "0",
      ...env,
    } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never leave a half-started server behind
      reject(new Error(`server did not start in time:\n${logs.join("")}`));
    }, options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      logs.push(text);
      const m = /"msg":"statehouse listening".*?"port":(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => logs.push(c.toString("utf8")));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${logs.join("")}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return; // already gone (e.g. SIGKILLed by a test)
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
}
