import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./redis-server";

const BIN = "/usr/lib/postgresql/15/bin";

export interface OwnPostgres {
  url: string;
  port: number;
  /** Stops the server: "fast" is a clean shutdown, "immediate" is a crash (no checkpoint). */
  stop(mode?: "fast" | "immediate"): void;
  start(): void;
  destroy(): void;
}

/**
 * A PostgreSQL cluster of the test's own (initdb into a temporary directory, a free port), which the
 * test may stop and start at will — never the machine's shared server. As root it runs as `postgres`.
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "sh-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const run = (cmd: string, args: string[]) =>
    execFileSync(asRoot ? "runuser" : cmd, asRoot ? ["-u", "postgres", "--", cmd, ...args] : args, {
      stdio: "ignore",
      cwd: "/tmp",
    });
  const data = path.join(dir, "data");
  run(`${BIN}/initdb`, ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync"]);
  const start = () =>
    run(`${BIN}/pg_ctl`, [
      "-D",
      data,
      "-l",
      path.join(dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      "start",
    ]);
  start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: (mode = "fast") => run(`${BIN}/pg_ctl`, ["-D", data, "-m", mode, "-w", "stop"]),
    start,
    destroy() {
      try {
        run(`${BIN}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
