import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { isCallerError, isConflict, isStateError } from "../state/errors";
import type { NamespacePolicy } from "../state/namespaces";
import type { StateService } from "../state/service";
import type { StateRef, WriteOptions } from "../state/store";
import type { ScannedRow, StateMigrateRepository } from "./state-migrate-repository";
import { isUpgradeFailed, keptExpiry, needsUpgrade, upgradeValue } from "../state/schema-upgrade";

/** Who history names as the author of the migrate command's writes. */
export const MIGRATE_ACTOR = "state-migrate";

export interface MigrateOptions {
  namespace: string;
  /** Only this tenant's records. */
  tenant?: string;
  /** Records read (and written) per batch; the saved cursor moves once per batch. */
  batchSize: number;
  /** Compute and report, write nothing (not even progress). */
  dryRun: boolean;
  /** Start from the beginning even if an interrupted run left progress behind. */
  restart?: boolean;
  /** Writes in flight at once within a batch. */
  concurrency?: number;
}

export interface MigrateProgress {
  /** Records walked so far (including those walked by the interrupted run this one resumes). */
  done: number;
  total: number;
  upgraded: number;
  failed: number;
  skipped: number;
}

export interface VersionCounts {
  /** Live records found stored at this schema version. */
  found: number;
  /** Upgraded to the current version (in a dry run: would be). */
  upgraded: number;
  /** Left untouched because the upgrade failed (see `failures`). */
  failed: number;
  /** Nothing to do: already current (or newer), or changed/deleted by someone else meanwhile. */
  skipped: number;
}

export interface MigrateFailure {
  tenant: string;
  key: string;
  schemaVersion: number;
  reason: string;
}

export interface MigrateReport {
  namespace: string;
  targetSchemaVersion: number;
  dryRun: boolean;
  /** Tenants whose walk continued from an interrupted run's saved cursor. */
  resumedTenants: string[];
  /** Records walked by this run. */
  examined: number;
  /** Counts per stored schema version ("1", "2", ...). */
  byVersion: Record<string, VersionCounts>;
  totals: VersionCounts;
  /** Every failed record (the first 1000), with its key and why. */
  failures: MigrateFailure[];
}

interface Saved {
  namespace: string;
  targetSchemaVersion: number;
  /** Per tenant: the last key of the last finished batch, or done. */
  tenants: Record<string, { after?: string; done?: boolean }>;
}

const MAX_LISTED_FAILURES = 1000;
/** Records per write transaction: one commit for many records, small enough to stay well inside a store call's timeout. */
const WRITE_CHUNK = 50;

/**
 * The migrate command's engine: walks every tenant's records of a namespace in key order, in batches,
 * and rewrites each record stored below the namespace's schema version with its upgraded value,
 * compare-and-set on the version it read (a conflict: re-read and retry once). Writes go through the
 * state service, so they land in history and the outbox and refresh the hot copy like any other write.
 * After each batch the cursor is saved (unless dry-run), so a run that is killed continues where it
 * stopped; records of a batch that was cut short are found already upgraded and skipped, so every
 * record is upgraded once. A run that finishes removes its saved progress: the next run walks
 * everything again (and, after a complete run, finds nothing to do).
 */
export class StateMigration {
  constructor(
    private readonly deps: {
      state: StateService;
      /** Reads records in key order with their schema versions (one query per batch). */
      warm: Pick<StateMigrateRepository, "tenants" | "countUpTo" | "scan">;
      /** Where progress is saved (per namespace, target version and database). */
      progressFile: (policy: NamespacePolicy) => string;
      onProgress?: (progress: MigrateProgress) => void;
    },
  ) {}

  async run(options: MigrateOptions): Promise<MigrateReport> {
    const policy = this.deps.state.policy(options.namespace);
    const file = this.deps.progressFile(policy);
    const saved: Saved = (!options.restart && (await readSaved(file, policy))) || {
      namespace: policy.name,
      targetSchemaVersion: policy.schemaVersion,
      tenants: {},
    };
    const report: MigrateReport = {
      namespace: policy.name,
      targetSchemaVersion: policy.schemaVersion,
      dryRun: options.dryRun,
      resumedTenants: [],
      examined: 0,
      byVersion: {},
      totals: counts(),
      failures: [],
    };
    const tenants = await this.deps.warm.tenants(policy.name, options.tenant);
    // A dry run reports on everything as it is now; only a real run continues an interrupted one.
    const resumeFrom = (tenant: string) => (options.dryRun ? undefined : saved.tenants[tenant]);
    const progress: MigrateProgress = {
      done: 0,
      total: tenants.reduce((n, t) => n + t.records, 0),
      upgraded: 0,
      failed: 0,
      skipped: 0,
    };
    for (const { tenant } of tenants) {
      const from = resumeFrom(tenant);
      if (from?.done) progress.done += tenants.find((t) => t.tenant === tenant)!.records;
      else if (from?.after !== undefined)
        progress.done += await this.deps.warm.countUpTo(policy.name, tenant, from.after);
    }
    this.deps.onProgress?.({ ...progress });

    for (const { tenant } of tenants) {
      const from = resumeFrom(tenant);
      if (from?.done) {
        report.resumedTenants.push(tenant);
        continue;
      }
      let after = from?.after;
      if (after !== undefined) report.resumedTenants.push(tenant);
      for (;;) {
        const rows = await this.deps.warm.scan(policy, tenant, after, options.batchSize);
        if (rows.length === 0) break;
        const outcomes = await this.migrateBatch(policy, tenant, rows, options);
        rows.forEach((row, i) => {
          const outcome = outcomes[i]!;
          tally(report, row.schema_version, outcome, { tenant, key: row.key });
          progress[outcome.kind]++;
        });
        after = rows[rows.length - 1]!.key;
        report.examined += rows.length;
        progress.done += rows.length;
        if (!options.dryRun) {
          saved.tenants[tenant] = { after };
          await writeSaved(file, saved);
        }
        this.deps.onProgress?.({ ...progress });
        if (rows.length < options.batchSize) break;
      }
      if (!options.dryRun) {
        saved.tenants[tenant] = { done: true };
        await writeSaved(file, saved);
      }
    }
    // Finished: the walk is complete, so the next run starts from the beginning.
    if (!options.dryRun) {
      for (const { tenant } of tenants) delete saved.tenants[tenant];
      if (options.tenant) delete saved.tenants[options.tenant];
      if (Object.keys(saved.tenants).length === 0) await rm(file, { force: true });
      else await writeSaved(file, saved);
    }
    return report;
  }

  /**
   * Upgrades one batch: every record below the current version is upgraded in memory (a throwing
   * upgrader fails that record alone), then written in transactions of WRITE_CHUNK records, each
   * write compare-and-set on the version read. A chunk that meets a conflict is redone record by
   * record, so one busy key never holds back the others.
   */
  private async migrateBatch(
    policy: NamespacePolicy,
    tenant: string,
    rows: readonly ScannedRow[],
    options: MigrateOptions,
  ): Promise<Outcome[]> {
    const outcomes: (Outcome | Ready)[] = rows.map((row): Outcome | Ready => {
      if (!needsUpgrade(policy, row.schema_version)) return { kind: "skipped" };
      const upgraded = this.upgrade(policy, JSON.parse(row.value!), row.schema_version);
      if (upgraded.kind === "failed" || options.dryRun)
        return upgraded.kind === "failed" ? upgraded : { kind: "upgraded" };
      return {
        kind: "ready",
        ref: { tenant, namespace: policy.name, key: row.key },
        value: upgraded.value,
        version: row.version,
        expiresAt: row.expires_at,
        idleTtlSeconds: row.idle_ttl_seconds,
        fromSchemaVersion: row.schema_version,
      };
    });
    const ready = outcomes.flatMap((o, i) => (o.kind === "ready" ? [{ i, write: o }] : []));
    const chunks = Array.from({ length: Math.ceil(ready.length / WRITE_CHUNK) }, (_, c) =>
      ready.slice(c * WRITE_CHUNK, (c + 1) * WRITE_CHUNK),
    );
    await forEachLimited(chunks, options.concurrency ?? 4, async (chunk) => {
      try {
        await this.deps.state.writeStored(
          chunk.map(({ write }) => ({
            op: "put" as const,
            ref: write.ref,
            value: write.value,
            options: this.writeOptions(policy, write.version, write),
          })),
        );
        for (const { i } of chunk) outcomes[i] = { kind: "upgraded" };
      } catch (err) {
        if (!isCallerError(err)) throw err; // a store that cannot answer stops the run; its progress is saved
        for (const { i, write } of chunk) outcomes[i] = await this.writeOne(policy, write);
      }
    });
    return outcomes as Outcome[]; // every Ready was written (or redone) above
  }

  /** One record's compare-and-set write; on a conflict, re-read and (if still old) retry once. */
  private async writeOne(policy: NamespacePolicy, write: Ready): Promise<Outcome> {
    let current = write;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.state.writeStored([
          {
            op: "put",
            ref: current.ref,
            value: current.value,
            options: this.writeOptions(policy, current.version, current),
          },
        ]);
        return { kind: "upgraded" };
      } catch (err) {
        if (!isCallerError(err)) throw err;
        if (!isConflict(err))
          return {
            kind: "failed",
            schemaVersion: write.fromSchemaVersion,
            reason: isStateError(err) ? `${err.code}: ${err.message}` : "the write failed",
          };
        // Someone wrote meanwhile: their write may already be at the current schema.
        const fresh = await this.deps.state.readStored(current.ref, { consistency: "strong" });
        if (!fresh || !needsUpgrade(policy, fresh.schemaVersion)) return { kind: "skipped" };
        if (attempt >= 1)
          return {
            kind: "failed",
            schemaVersion: fresh.schemaVersion,
            reason: "changed concurrently twice while upgrading; run again",
          };
        const upgraded = this.upgrade(policy, fresh.value, fresh.schemaVersion);
        if (upgraded.kind === "failed") return upgraded;
        current = {
          ...current,
          value: upgraded.value,
          version: fresh.version,
          expiresAt: fresh.expiresAt,
          idleTtlSeconds: fresh.idleTtlSeconds ?? null,
        };
      }
    }
  }

  private upgrade(
    policy: NamespacePolicy,
    value: unknown,
    from: number,
  ): { kind: "ok"; value: unknown } | Extract<Outcome, { kind: "failed" }> {
    try {
      const upgraded = upgradeValue(policy, value, from);
      if (upgraded.sizeBytes > policy.maxBytes.fail) {
        return {
          kind: "failed",
          schemaVersion: from,
          reason: `the upgraded value is ${upgraded.sizeBytes} bytes, over the namespace's limit of ${policy.maxBytes.fail}`,
        };
      }
      return { kind: "ok", value: upgraded.value };
    } catch (err) {
      if (isUpgradeFailed(err))
        return {
          kind: "failed",
          schemaVersion: from,
          reason: `upgrader ${err.fromSchemaVersion}→${err.fromSchemaVersion + 1} failed: ${err.reason}`,
        };
      throw err;
    }
  }

  /** At the current schema, keeping the record's expiry as it was. */
  private writeOptions(
    policy: NamespacePolicy,
    ifVersion: number,
    expiry: { expiresAt: Date | null; idleTtlSeconds?: number | null },
  ): WriteOptions {
    return { ifVersion, ...keptExpiry(expiry), schemaVersion: policy.schemaVersion, actor: MIGRATE_ACTOR };
  }
}

interface Ready {
  kind: "ready";
  ref: StateRef;
  value: unknown;
  version: number;
  expiresAt: Date | null;
  idleTtlSeconds: number | null;
  fromSchemaVersion: number;
}

/** What became of one record. */
type Outcome = { kind: "upgraded" } | { kind: "skipped" } | { kind: "failed"; schemaVersion: number; reason: string };

function counts(): VersionCounts {
  return { found: 0, upgraded: 0, failed: 0, skipped: 0 };
}

function tally(
  report: MigrateReport,
  storedVersion: number,
  outcome: Outcome,
  at: { tenant: string; key: string },
): void {
  const row = (report.byVersion[String(storedVersion)] ??= counts());
  for (const c of [row, report.totals]) {
    c.found++;
    c[outcome.kind]++;
  }
  if (outcome.kind === "failed" && report.failures.length < MAX_LISTED_FAILURES) {
    report.failures.push({ ...at, schemaVersion: outcome.schemaVersion, reason: outcome.reason });
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Where a run's progress is saved: under the data directory, one file per namespace, target schema
 * version and database (a hash of where it is, never its credentials), so progress is never applied to
 * another database or an older migration.
 */
export function progressFilePath(dataDir: string, database: string, policy: NamespacePolicy): string {
  const db = createHash("sha256").update(database).digest("hex").slice(0, 12);
  return path.join(dataDir, "state-migrate", `${policy.name}-v${policy.schemaVersion}-${db}.json`);
}

/** The database's identity without credentials: host, port and name (or the PGlite directory). */
export function databaseIdentity(config: { DATABASE_URL?: string; dataDir: string }): string {
  if (!config.DATABASE_URL) return `pglite:${path.join(config.dataDir, "pglite")}`;
  const url = new URL(config.DATABASE_URL);
  return `postgres://${url.hostname}:${url.port || "5432"}${url.pathname}`;
}

async function readSaved(file: string, policy: NamespacePolicy): Promise<Saved | undefined> {
  try {
    const saved = JSON.parse(await readFile(file, "utf8")) as Saved;
    return saved.namespace === policy.name &&
      saved.targetSchemaVersion === policy.schemaVersion &&
      typeof saved.tenants === "object"
      ? saved
      : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place, so a kill mid-write leaves the previous progress intact. */
async function writeSaved(file: string, saved: Saved): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(saved));
  await rename(tmp, file);
}
