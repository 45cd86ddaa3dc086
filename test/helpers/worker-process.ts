import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export interface WorkerProcess {
  process: ChildProcess;
  pid: number;
  /** Everything it printed (JSON log lines). */
  logs: string[];
  /** Log lines with this msg, parsed. */
  events(msg: string): Record<string, unknown>[];
  /** Resolves when a log line with this msg (and matching fields) appears. */
  waitFor(
    msg: string,
    match?: (fields: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after 8 s; resolves once it exited. */
  stop(): Promise<void>;
}

const ROOT = path.resolve(import.meta.dirname, "../..");
const INHERITED_CONFIG = ["DATABASE_URL", "REDIS_URL", "STATEHOUSE_DATA_DIR", "STATEHOUSE_ADMIN_TOKEN", "PORT", "HOST"];

/** A real `npm run worker` process (server/workflows/worker-main.ts), resolved once it logs that it started. */
export async function startWorker(
  env: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<WorkerProcess> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED_CONFIG.includes(k)));
  const child = spawn(process.execPath, ["--import", "tsx", "server/workflows/worker-main.ts"], {
    cwd: ROOT,
    env: { ...base, STATEHOUSE_OUTBOX_RELAY: "off", ...env } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const waiters = new Set<() => void>();
  let partial = "";
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop()!;
    logs.push(...lines.filter(Boolean));
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const parsed = () =>
    logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const worker: WorkerProcess = {
    process: child,
    pid: child.pid!,
    logs,
    events: (msg) => parsed().filter((e) => e.msg === msg),
    waitFor(msg, match = () => true, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = worker.events(msg).find(match);
          if (found) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`worker ${child.pid} did not log "${msg}" in time:\n${logs.slice(-30).join("\n")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGCONT"); // a paused process cannot handle SIGTERM
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
  const exitedEarly = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}:\n${logs.join("\n")}`))),
  );
  await Promise.race([worker.waitFor("workflow worker started", undefined, options.timeoutMs ?? 60_000), exitedEarly]);
  exitedEarly.catch(() => {});
  return worker;
}
