import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface OwnRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own on a free port (or on `port`, to restart one the test killed), that
 * the test may kill — never the shared one. `args` are added to its command line (cluster mode).
 */
export async function startOwnRedis(port?: number, args: string[] = []): Promise<OwnRedis> {
  const listen = port ?? (await freePort());
  const child = spawn(
    "redis-server",
    ["--port", String(listen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("redis-server did not start")), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (/Ready to accept connections/.test(d.toString())) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return {
    url: `redis://127.0.0.1:${listen}`,
    port: listen,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

export interface OwnRedisCluster {
  url: string;
  nodes: OwnRedis[];
  stop(): Promise<void>;
}

/** Three redis-server masters on free ports joined into a Redis Cluster (no replicas), for the test alone. */
export async function startOwnRedisCluster(): Promise<OwnRedisCluster> {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const { execFileSync } = await import("node:child_process");
  const dir = mkdtempSync(path.join(tmpdir(), "sh-cluster-"));
  const nodes: OwnRedis[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `nodes-${port}.conf`);
    nodes.push(
      await startOwnRedis(port, [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        conf,
        "--cluster-node-timeout",
        "2000",
      ]),
    );
  }
  execFileSync(
    "redis-cli",
    ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
    { stdio: "ignore" },
  );
  // Wait until every node reports the cluster as ok.
  for (let i = 0; i < 50; i++) {
    const states = nodes.map((n) =>
      execFileSync("redis-cli", ["-p", String(n.port), "cluster", "info"], { encoding: "utf8" }),
    );
    if (states.every((s) => /cluster_state:ok/.test(s))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: nodes[0]!.url,
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
