import fastJsonPatch, { type Operation } from "fast-json-patch";
import { upgradeOnRead, upgradeReported } from "./schema-upgrade";
import { applyWindows, ExtractiveSummarizer, type WindowSummarizer } from "./windows";
import { inOperation, isConflict, NotFoundError, StateError } from "./errors";
import { measureJson } from "./json-measure";
import { applyJsonPatchBounded, validateJsonPatch, type PatchOperation } from "./json-patch";
import type { NamespacePolicy, NamespaceRegistry } from "./namespaces";
import type { DeleteResult, HistoryEntry, ListOptions, ListPage, ReadOptions, StateRecord, StateRef } from "./store";
import type { EraseResult, StateStore, TransactionOp, TransactionResult } from "./store";
import { LIMITS } from "./store";
import type { PlannedWrite } from "../policies/admission";

export type PatchFormat = "merge" | "json-patch";

export interface Precondition {
  /** If-Match: the write applies only to this version. */
  ifVersion?: number;
  /** If-None-Match: * — create only. */
  createOnly?: boolean;
}

export interface PutRequest extends Precondition {
  ttlSeconds?: number;
  /** Sliding expiry for this record (default: the namespace's idle TTL); ignored when ttlSeconds is given. */
  idleTtlSeconds?: number;
  /** Write without expiry even if the namespace has a default TTL (a patch of a record that has none). */
  keepNoExpiry?: boolean;
  actor?: string;
}

export interface WriteOutcome {
  record: StateRecord;
  created: boolean;
  /** Set when the value is over its namespace's warning level (the write still succeeded). */
  sizeWarning?: { sizeBytes: number; warnBytes: number; failBytes: number };
}

export interface HistoryItem extends HistoryEntry {
  /** RFC 6902 operations that turn the previous version's value into this one's. */
  patch: Operation[];
}

export type TransactionRequestOp =
  | {
      op: "put";
      namespace: string;
      key: string;
      value: unknown;
      ifVersion?: number;
      createOnly?: boolean;
      ttlSeconds?: number;
    }
  | { op: "delete"; namespace: string; key: string; ifVersion?: number };

const PATCH_RETRIES = 20;

/**
 * The state engine as product code sees it: the tiered store plus each namespace's policy (declared
 * namespaces only, size limits, default TTLs, required preconditions) and the operations built on top
 * (patches with compare-and-set, history with diffs). HTTP handlers and agents call this, never a tier.
 */
export class StateService {
  constructor(
    private readonly store: StateStore,
    readonly namespaces: NamespaceRegistry,
    /** Told of lifecycle actions (size warnings, rejections), for the lifecycle events counter. */
    private readonly onLifecycle: (event: string, namespace: string, count?: number) => void = () => {},
    /** Folds items that leave a rolling window into the namespace's summary field. */
    readonly summarizer: WindowSummarizer = new ExtractiveSummarizer(),
    /** Checked before every write reaches a store (tenant policies: residency, storage quota); throws to refuse. */
    private readonly writeGuard?: (tenant: string, writes: readonly PlannedWrite[], actor?: string) => Promise<void>,
  ) {}

  /**
   * The record exactly as stored: no schema upgrade, no idle-expiry refresh, internal namespaces too. For
   * code that works on stored versions: precondition checks, the checkpointer, the schema migrator.
   */
  readStored(ref: StateRef, options?: ReadOptions): Promise<StateRecord | undefined> {
    return this.store.get(ref, options);
  }

  /**
   * Compare-and-set writes of values already in their stored form, with explicit store options (schema
   * version, expiry): no windows, no write guard. Only the schema migrator, which rewrites what is there.
   */
  writeStored(ops: readonly TransactionOp[]): Promise<TransactionResult[]> {
    return this.store.transact(ops);
  }

  /** Checks writes planned together against the tenant's policies (quota, residency) without writing; throws to refuse. */
  async checkWrites(tenant: string, writes: readonly PlannedWrite[], actor?: string): Promise<void> {
    await this.writeGuard?.(tenant, writes, actor);
  }

  policy(namespace: string): NamespacePolicy {
    const p = this.namespaces.getOrThrow(namespace);
    if (p.internal)
      throw new StateError("unknown_namespace", `no namespace named ${JSON.stringify(namespace)}`, { namespace });
    return p;
  }

  async getOrThrow(ref: StateRef, options: ReadOptions = {}): Promise<StateRecord> {
    const policy = this.policy(ref.namespace);
    const record = await this.store.get(ref, { consistency: options.consistency ?? policy.consistency });
    if (!record) throw new NotFoundError(ref);
    // Old records are served at the namespace's current schema version (history keeps them as stored).
    return upgradeOnRead(this.store, policy, ref, await this.refreshIdle(ref, record), this.onLifecycle);
  }

  /**
   * Reading a record with an idle TTL is an access: its expiry moves forward. To keep reads cheap the
   * touch is skipped while less than a tenth of the idle window has passed since the last one.
   */
  private async refreshIdle(ref: StateRef, record: StateRecord): Promise<StateRecord> {
    const idle = record.idleTtlSeconds;
    if (!idle || !record.expiresAt) return record;
    const remainingMs = record.expiresAt.getTime() - Date.now();
    if (remainingMs > idle * 1000 * 0.9) return record;
    try {
      const expiresAt = await this.store.touch(ref, record.version);
      if (expiresAt) {
        this.onLifecycle("idle_refreshed", ref.namespace);
        return { ...record, expiresAt };
      }
    } catch {
      // A failed touch costs at most an earlier expiry; the read itself succeeded.
    }
    return record;
  }

  async put(ref: StateRef, value: unknown, request: PutRequest = {}): Promise<WriteOutcome> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    value = await this.windowed(policy, value);
    const sizeWarning = this.checkSize(policy, value);
    await this.writeGuard?.(ref.tenant, [{ op: "put", namespace: ref.namespace, key: ref.key, value }], request.actor);
    const ttlSeconds = request.ttlSeconds ?? (request.keepNoExpiry ? undefined : policy.ttlSeconds);
    const record = await this.store.put(ref, value, {
      ifVersion: request.ifVersion,
      createOnly: request.createOnly,
      ttlSeconds,
      idleTtlSeconds:
        ttlSeconds === undefined && !request.keepNoExpiry
          ? (request.idleTtlSeconds ?? policy.idleTtlSeconds)
          : undefined,
      schemaVersion: policy.schemaVersion,
      actor: request.actor,
      ...(policy.keepHistory === false ? { history: false as const } : {}),
    });
    // A record (re)created by this write starts its life now; an update keeps its creation time.
    return { record, created: record.createdAt.getTime() === record.updatedAt.getTime(), sizeWarning };
  }

  /**
   * Applies a merge patch (RFC 7396) or JSON Patch (RFC 6902) atomically: read, apply, compare-and-set.
   * With `ifVersion` a concurrent change is a conflict; without it the patch is retried on the newer value.
   */
  async patch(
    ref: StateRef,
    format: PatchFormat,
    patch: unknown,
    request: Omit<PutRequest, "createOnly"> = {},
  ): Promise<WriteOutcome> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    // Shape and operation count are checked before the record is read: a refused patch costs no I/O.
    if (format === "json-patch") validateJsonPatch(patch);
    for (let attempt = 0; ; attempt++) {
      const stored = await this.store.get(ref, { consistency: "strong" });
      if (!stored) throw new NotFoundError(ref);
      // The patch applies to the value as the current schema sees it, and is written at that schema.
      const current = upgradeReported(policy, stored, this.onLifecycle);
      if (request.ifVersion !== undefined && current.version !== request.ifVersion) {
        throw new StateError(
          "version_conflict",
          `expected version ${request.ifVersion}, current is ${current.version}`,
          { expected: request.ifVersion, currentVersion: current.version },
        );
      }
      // A JSON Patch can grow the value exponentially (copy the root, again and again): its size is
      // tracked as it is applied and it stops at the namespace's limit. A merge patch grows the value by
      // at most the patch's own size, which the body limit bounds, so checkSize after it is enough.
      const next =
        format === "merge"
          ? mergePatch(current.value, patch)
          : applyJsonPatchBounded(current.value, patch as PatchOperation[], {
              maxBytes: Math.min(policy.maxBytes.fail, LIMITS.maxValueBytes),
              currentBytes: current.sizeBytes,
            }).value;
      // A patch changes the value, not the record's life: keep its expiry rule (a write is an access,
      // so a sliding expiry restarts its window).
      const idle = current.idleTtlSeconds ?? undefined;
      const keepExpiry =
        current.expiresAt && !idle ? Math.max(0.001, (current.expiresAt.getTime() - Date.now()) / 1000) : undefined;
      try {
        return await this.put(ref, next, {
          ...request,
          ifVersion: current.version,
          ttlSeconds: request.ttlSeconds ?? keepExpiry,
          idleTtlSeconds: request.idleTtlSeconds ?? idle,
          keepNoExpiry: !current.expiresAt,
        });
      } catch (err) {
        if (!isConflict(err) || request.ifVersion !== undefined || attempt >= PATCH_RETRIES) throw err;
      }
    }
  }

  async delete(ref: StateRef, request: Pick<PutRequest, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    await this.writeGuard?.(ref.tenant, [{ op: "delete", namespace: ref.namespace, key: ref.key }], request.actor);
    return this.store.delete(ref, request);
  }

  /**
   * Forgets a key in every tier (StateStore.erase): for erasing an end user's data. Internal namespaces
   * too (idempotency replays); no write guard, since erasing only frees.
   */
  async erase(ref: StateRef): Promise<EraseResult> {
    this.namespaces.getOrThrow(ref.namespace);
    return this.store.erase(ref);
  }

  async list(tenant: string, namespace: string, options: ListOptions): Promise<ListPage> {
    this.policy(namespace);
    return this.store.list(tenant, namespace, options);
  }

  /** Versions newest first, each with the JSON Patch from the version before it. */
  async history(ref: StateRef, options: { limit?: number; before?: number } = {}): Promise<HistoryItem[]> {
    this.policy(ref.namespace);
    const limit = options.limit ?? 20;
    // One extra, older entry so the oldest shown version has something to diff against.
    const entries = await this.store.history(ref, { limit: Math.min(limit + 1, 1000), before: options.before });
    const shown = entries.slice(0, limit);
    return shown.map((entry, i) => {
      const previous = entries[i + 1];
      const from = previous && previous.version === entry.version - 1 ? previous.value : null;
      return { ...entry, patch: diff(from, entry.value) };
    });
  }

  async versionOrThrow(ref: StateRef, version: number): Promise<HistoryEntry> {
    this.policy(ref.namespace);
    const entry = await this.store.getVersion(ref, version);
    if (entry) return entry;
    // Say which of the two is missing: the version, or the record (one more read, only on a miss).
    const live = await this.store.get(ref).catch(() => undefined);
    const name = `${ref.namespace}/${ref.key}`;
    throw new StateError(
      "not_found",
      live
        ? `${name} has no version ${version}; the record is at version ${live.version}`
        : `no version ${version} of ${name} (and no live record)`,
      { requestedVersion: version, currentVersion: live?.version ?? null },
    );
  }

  async transact(tenant: string, ops: readonly TransactionRequestOp[], actor?: string): Promise<TransactionResult[]> {
    // Each operation's own refusal (unknown namespace, missing precondition, too large, conflict) names
    // its index in `operations`, so a client knows which one to fix.
    const windowedValues = await Promise.all(
      ops.map(async (op, i) => {
        try {
          return op.op === "put" ? await this.windowed(this.policy(op.namespace), op.value) : undefined;
        } catch (err) {
          throw inOperation(err, i);
        }
      }),
    );
    const prepared = ops.map((op, i) => {
      try {
        return this.prepareOperation(tenant, op, windowedValues[i], actor);
      } catch (err) {
        throw inOperation(err, i);
      }
    });
    await this.writeGuard?.(
      tenant,
      ops.map((op) => ({
        op: op.op,
        namespace: op.namespace,
        key: op.key,
        value: op.op === "put" ? op.value : undefined,
      })),
      actor,
    );
    return this.store.transact(prepared);
  }

  /** One transaction operation checked against its namespace's policy and made a store operation. */
  private prepareOperation(
    tenant: string,
    op: TransactionRequestOp,
    value: unknown,
    actor: string | undefined,
  ): TransactionOp {
    const policy = this.policy(op.namespace);
    const ref = { tenant, namespace: op.namespace, key: op.key };
    this.requirePrecondition(policy, { ifVersion: op.ifVersion, createOnly: op.op === "put" && op.createOnly });
    if (op.op === "put") {
      this.checkSize(policy, value);
      const ttlSeconds = op.ttlSeconds ?? policy.ttlSeconds;
      return {
        op: "put",
        ref,
        value,
        options: {
          ifVersion: op.ifVersion,
          createOnly: op.createOnly,
          ttlSeconds,
          idleTtlSeconds: ttlSeconds === undefined ? policy.idleTtlSeconds : undefined,
          schemaVersion: policy.schemaVersion,
          actor,
        },
      };
    }
    return { op: "delete", ref, options: { ifVersion: op.ifVersion, actor } };
  }

  /** The value with the namespace's rolling windows applied (see server/state/windows.ts). */
  private async windowed(policy: NamespacePolicy, value: unknown): Promise<unknown> {
    if (policy.windows.length === 0) return value;
    const result = await applyWindows(policy, value, this.summarizer);
    if (result.dropped > 0) this.onLifecycle("window_summarized", policy.name, result.dropped);
    return result.value;
  }

  private requirePrecondition(policy: NamespacePolicy, request: Precondition): void {
    if (policy.requirePrecondition && request.ifVersion === undefined && !request.createOnly) {
      throw new StateError(
        "precondition_required",
        `namespace ${policy.name} requires If-Match or If-None-Match on writes`,
      );
    }
  }

  private checkSize(policy: NamespacePolicy, value: unknown): WriteOutcome["sizeWarning"] {
    // Measured, not serialized, and only up to the store's ceiling: the work is bounded whatever the value.
    const { sizeBytes, over } = measureJson(value, LIMITS.maxValueBytes);
    const { warn, fail } = policy.maxBytes;
    if (over || sizeBytes > fail) {
      this.onLifecycle("size_rejected", policy.name);
      throw new StateError(
        "too_large",
        `value is ${over ? "over " : ""}${sizeBytes} bytes; namespace ${policy.name} allows at most ${fail}`,
        { sizeBytes, limitBytes: fail },
      );
    }
    if (sizeBytes <= warn) return undefined;
    this.onLifecycle("size_warning", policy.name);
    return { sizeBytes, warnBytes: warn, failBytes: fail };
  }
}

/** RFC 7396 JSON Merge Patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete result[k];
    // "__proto__" is an ordinary member in JSON; assigning it would set the object's prototype instead.
    else
      Object.defineProperty(result, k, {
        value: mergePatch(Object.hasOwn(result, k) ? result[k] : undefined, v),
        writable: true,
        enumerable: true,
        configurable: true,
      });
  }
  return result;
}

function diff(from: unknown, to: unknown): Operation[] {
  const isContainer = (v: unknown) => v !== null && typeof v === "object";
  if (isContainer(from) && isContainer(to) && Array.isArray(from) === Array.isArray(to)) {
    return fastJsonPatch.compare(from as object, to as object);
  }
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ op: "replace", path: "", value: to }];
}
