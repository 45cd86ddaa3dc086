// npm run state:migrate -- --namespace N [--dry-run] [--tenant T] [--batch 500] [--restart] [--json]
// Upgrades every stored record of a namespace to its current schema version. Exit code: 0 done,
// 1 some records failed (listed), 2 bad arguments or configuration.
import { parseArgs } from "node:util";
import { type Config, type ConfigError, loadConfig } from "../config";
import { isStateError } from "../state/errors";
import { StateMigrateRepository } from "./state-migrate-repository";
import { namespaceRegistryFor } from "./declared-namespaces";
import {
  databaseIdentity,
  type MigrateProgress,
  type MigrateReport,
  progressFilePath,
  StateMigration,
  type VersionCounts,
} from "./state-migrate";

const USAGE = `usage: npm run state:migrate -- --namespace <name> [--dry-run] [--tenant <tenant>] [--batch <1-1000>] [--restart] [--json]
  --dry-run   compute and report what would change; write nothing
  --tenant    only this tenant's records
  --batch     records per batch (default 500); progress is saved after each batch
  --restart   ignore the progress an interrupted run saved and start from the beginning
  --json      print the report as JSON`;

/** A bar redrawn in place on a terminal; one plain line per batch when stderr is a file or a pipe. */
class ProgressDisplay {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = performance.now();
  private drawn = false;
  private startedAt: number | undefined;

  constructor(
    private readonly title: string,
    private readonly dryRun: boolean,
  ) {}

  update(p: MigrateProgress): void {
    const pct = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
    this.startedAt ??= p.done; // a resumed run starts part-way: its rate counts only its own records
    const rate = Math.round((p.done - this.startedAt) / Math.max(0.001, (performance.now() - this.started) / 1000));
    const tail =
      `${p.done}/${p.total} records (${pct}%) · ${p.upgraded} ` +
      `${this.dryRun ? "would upgrade" : "upgraded"} · ${p.failed} failed · ${p.skipped} skipped`;
    if (this.tty) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      process.stderr.write(
        `\r\x1b[2K${this.title} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${tail} · ${rate}/s`,
      );
      this.drawn = true;
    } else {
      process.stderr.write(`state:migrate ${this.title}: ${tail}\n`);
    }
  }

  finish(): void {
    if (this.drawn) process.stderr.write("\n");
  }
}

function formatReport(r: MigrateReport): string {
  const lines = [
    `state:migrate ${r.namespace} → schema version ${r.targetSchemaVersion}${r.dryRun ? " (dry run: nothing was written)" : ""}`,
  ];
  if (r.resumedTenants.length)
    lines.push(`resumed an interrupted run for ${r.resumedTenants.length} tenant(s); ${r.examined} records walked now`);
  const cols = ["stored version", "found", r.dryRun ? "would upgrade" : "upgraded", "failed", "skipped"];
  const labelled: [string, VersionCounts][] = [
    ...Object.entries(r.byVersion)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([v, c]): [string, VersionCounts] => [`v${v}`, c]),
    ["total", r.totals],
  ];
  const rows = labelled.map(([label, c]) => [
    label,
    String(c.found),
    String(c.upgraded),
    String(c.failed),
    String(c.skipped),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  lines.push(line(cols), ...rows.map(line));
  if (r.totals.found === 0 || r.totals.upgraded + r.totals.failed === 0)
    lines.push("nothing to do: every record is at the current schema version");
  if (r.failures.length) {
    lines.push(`failed records (left as stored):`);
    for (const f of r.failures)
      lines.push(`  tenant ${f.tenant} key ${JSON.stringify(f.key)} (v${f.schemaVersion}): ${f.reason}`);
  }
  return `${lines.join("\n")}\n`;
}

function fail(message: string): never {
  process.stderr.write(`state:migrate: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArguments() {
  return parseArgs({
    options: {
      namespace: { type: "string" },
      tenant: { type: "string" },
      batch: { type: "string", default: "500" },
      "dry-run": { type: "boolean", default: false },
      restart: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
}
let args: ReturnType<typeof parseArguments>;
try {
  args = parseArguments();
} catch (err) {
  fail(err instanceof Error ? err.message : "bad arguments");
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args.namespace) fail("--namespace is required");
const batchSize = Number(args.batch);
if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000)
  fail("--batch must be an integer from 1 to 1000");

let config: Config;
try {
  // The same configuration as the server, minus what a one-off command must not do: relay the outbox
  // (the servers do) or keep metrics nobody scrapes.
  const loaded = loadConfig({ ...process.env, STATEHOUSE_OUTBOX_RELAY: "off" });
  // A batch job is not latency-bound: a slow transaction of 50 writes must not trip the circuit breaker.
  config = {
    ...loaded,
    STATEHOUSE_HOT_TIMEOUT_MS: Math.max(loaded.STATEHOUSE_HOT_TIMEOUT_MS, 30_000),
    STATEHOUSE_WARM_TIMEOUT_MS: Math.max(loaded.STATEHOUSE_WARM_TIMEOUT_MS, 30_000),
    STATEHOUSE_COLD_TIMEOUT_MS: Math.max(loaded.STATEHOUSE_COLD_TIMEOUT_MS, 30_000),
  };
  process.env.STATEHOUSE_TELEMETRY ??= "off";
} catch (err) {
  if ((err as Error | undefined)?.name === "ConfigError") fail((err as ConfigError).message);
  throw err;
}

// The namespace is checked before any store is opened, so a typo costs nothing.
const policy = await namespaceRegistryFor(config)
  .then((registry) => registry.getOrThrow(args.namespace!))
  .catch((err: unknown) => fail(err instanceof Error ? err.message : "unknown namespace"));
if (policy.internal) fail(`no namespace named ${JSON.stringify(policy.name)}`);
if (policy.durability === "ephemeral")
  fail(`namespace ${policy.name} lives in the hot tier only; its records are upgraded when read`);

// Loaded only now: the state engine's module graph is not needed to refuse bad arguments. Only the
// engine is built: no sweeper, relay, workers or agents run beside the migration.
const { buildStateEngine } = await import("../container");
const { openClients } = await import("../clients");
const clients = await openClients(config).catch((err: unknown) =>
  fail(err instanceof Error ? err.message : "could not start"),
);
const services = await buildStateEngine(config, clients).catch((err: unknown) =>
  fail(err instanceof Error ? err.message : "could not start"),
);
let exitCode = 0;
try {
  const progress = new ProgressDisplay(
    `${policy.name} → schema v${policy.schemaVersion}${args["dry-run"] ? " (dry run)" : ""}`,
    args["dry-run"],
  );
  const migration = new StateMigration({
    state: services.state,
    warm: new StateMigrateRepository(clients.db.prisma),
    progressFile: (p) => progressFilePath(config.dataDir, databaseIdentity(config), p),
    onProgress: (p) => progress.update(p),
  });
  const report = await migration.run({
    namespace: policy.name,
    tenant: args.tenant,
    batchSize,
    dryRun: args["dry-run"],
    restart: args.restart,
  });
  progress.finish();
  process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  exitCode = report.totals.failed > 0 ? 1 : 0;
} catch (err) {
  process.stderr.write(
    `state:migrate: stopped: ${isStateError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)}\n`,
  );
  if (!args["dry-run"])
    process.stderr.write(
      "state:migrate: progress up to the last finished batch is saved; run the same command again to continue\n",
    );
  exitCode = 1;
} finally {
  await services.close().catch(() => {});
  await clients.close().catch(() => {});
}
process.exit(exitCode);
