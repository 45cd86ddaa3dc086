import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { LRUCache } from "lru-cache";
import { isConflict, isStateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRecord, StateRef } from "../state/store";

/** The namespace (declared in server/state/namespaces.ts) that holds checkpoints and their writes. */
export const CHECKPOINTS_NAMESPACE = "checkpoints";
/** Hot-tier-only namespace naming each thread's newest checkpoint: a cache, rebuilt from `checkpoints` when lost. */
export const HEADS_NAMESPACE = "checkpoint-heads";

/** Serialized values at or above this many bytes are stored deflated (smaller rows, cheaper JSON checks). */
const COMPRESS_FROM_BYTES = 2048;
const CAS_RETRIES = 20;
const LIST_PAGE = 1000;

/** A value as the serializer produced it: JSON kept as JSON (readable in the dashboard), large or binary data packed. */
type Packed = { t: string; j: unknown } | { t: string; z: string } | { t: string; b: string };

type ChannelVersion = string | number;

/** One checkpoint: `c:<thread>:<ns>:<id>`. */
interface CheckpointValue {
  /** Parent checkpoint id, or null for the first of a thread. */
  p: string | null;
  /** The checkpoint without its channel values. */
  c: Omit<Checkpoint, "channel_values">;
  /** Metadata as the serializer's JSON (filterable). */
  m: Record<string, unknown>;
  /** Channel values new at this checkpoint (the channels of `newVersions`); null = the channel is empty. */
  b: Record<string, [ChannelVersion, Packed | null]>;
  /** Channels carried over unchanged: the checkpoint whose `b` holds their value at that version. */
  r: Record<string, [ChannelVersion, string]>;
}

/** Pending writes of one checkpoint: `w:<thread>:<ns>:<id>`, kept in LangGraph's (taskPath, taskId, idx) order. */
interface WritesValue {
  w: [taskId: string, idx: number, channel: string, value: Packed, taskPath: string][];
}

/** The newest checkpoint of a thread and namespace: `h:<thread>:<ns>` in HEADS_NAMESPACE. */
interface HeadValue {
  id: string;
  /** Whether that checkpoint has pending writes (so a read of the latest knows whether to fetch them). */
  writes: boolean;
}

type Head = HeadValue & { version: number };

export interface StatehouseSaverOptions {
  /** The state engine (services.state): every record goes through its policies, tiers and metrics. */
  state: StateService;
  /** Tenant that owns the checkpoints (default "default"). */
  tenant?: string;
  serde?: SerializerProtocol;
}

/**
 * A LangGraph checkpointer backed by the Statehouse engine. Checkpoints, channel values and pending
 * writes are versioned records in the `checkpoints` namespace (durable: PostgreSQL is the source of
 * truth, Redis the cache), so they get the namespace's size and TTL policy, optimistic concurrency,
 * history and the same operation metrics as any other state.
 *
 * Layout, per (thread, checkpoint namespace):
 * - `c:<thread>:<ns>:<id>` → the checkpoint, its metadata and the channel values new at it, with a
 *   reference to the checkpoint holding each unchanged channel (so values are stored once per version,
 *   like PostgresSaver's blobs); written once, so the namespace keeps no version history of it;
 * - `w:<thread>:<ns>:<id>` → its pending writes (compare-and-set);
 * - `h:<thread>:<ns>` in `checkpoint-heads` (hot tier only) → the newest checkpoint id and whether it has
 *   writes; compare-and-set so it never moves backwards, and rebuilt from the `c:` keys when lost.
 * The latest checkpoint is read from the hot tier (a few Redis GETs, no SQL); listing reads warm.
 */
export class StatehouseSaver extends BaseCheckpointSaver {
  private readonly state: StateService;
  private readonly tenant: string;
  /** Channel → [version, holder id] of recently written checkpoints, so a put need not read its parent. */
  private readonly blobIndex = new LRUCache<string, Record<string, [ChannelVersion, string]>>({ max: 2000 });
  /** Last known head version per thread+ns (this process wrote it): puts compare-and-set without a read. */
  private readonly heads = new LRUCache<string, Head>({ max: 2000 });
  /**
   * Last known writes record per checkpoint (version 0: none stored yet, as for a checkpoint this process
   * has just put), and a per-key queue so one process never conflicts with itself.
   */
  private readonly writesCache = new LRUCache<string, { value: WritesValue; version: number }>({ max: 2000 });
  private readonly writeQueues = new Map<string, Promise<unknown>>();

  constructor(options: StatehouseSaverOptions) {
    super(options.serde);
    this.state = options.state;
    this.tenant = options.tenant ?? "default";
    // Fails now, not at the first put, if the namespaces are not declared.
    this.state.policy(CHECKPOINTS_NAMESPACE);
    this.state.policy(HEADS_NAMESPACE);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (threadId === undefined) return undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const explicit = getCheckpointId(config);
    const readCheckpoint = (id: string) => this.read<CheckpointValue>(checkpointKey(threadId, ns, id));
    const readWrites = (id: string) => this.read<WritesValue>(writesKey(threadId, ns, id));
    let id: string | undefined = explicit;
    let record: Awaited<ReturnType<typeof readCheckpoint>>;
    let writes: Awaited<ReturnType<typeof readWrites>>;
    if (explicit) {
      [record, writes] = await Promise.all([readCheckpoint(explicit), readWrites(explicit)]);
    } else {
      // One round of hot reads in the common case: the head together with the checkpoint (and writes)
      // this process last knew as the newest; only if another writer moved the head does a second follow.
      const guess = this.heads.get(`${threadId}\u0000${ns}`);
      const [head, guessed, guessedWrites] = await Promise.all([
        this.readHead(threadId, ns),
        guess ? readCheckpoint(guess.id) : undefined,
        guess?.writes ? readWrites(guess.id) : undefined,
      ]);
      if (!head) return undefined;
      id = head.id;
      const same = head.id === guess?.id;
      [record, writes] = await Promise.all([
        same ? guessed : readCheckpoint(id),
        !head.writes ? undefined : same && guess?.writes ? guessedWrites : readWrites(id),
      ]);
      if (!record) {
        // The head names a checkpoint that is not stored (its put failed half way): the newest stored one.
        id = (await this.keys(CHECKPOINTS_NAMESPACE, `c:${enc(threadId)}:${enc(ns)}:`))
          .map((k) => parseCheckpointKey(k).id)
          .sort()
          .pop();
        if (!id) return undefined;
        [record, writes] = await Promise.all([readCheckpoint(id), readWrites(id)]);
      }
    }
    if (!record) return undefined;
    return this.toTuple(threadId, ns, id, record.value as CheckpointValue, writes?.value as WritesValue | undefined);
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let remaining = options.limit;
    const threadId = config.configurable?.thread_id as string | undefined;
    const ns = config.configurable?.checkpoint_ns as string | undefined;
    const onlyId = config.configurable?.checkpoint_id as string | undefined;
    const beforeId = before?.configurable?.checkpoint_id as string | undefined;
    const prefix =
      threadId === undefined ? "c:" : ns === undefined ? `c:${enc(threadId)}:` : `c:${enc(threadId)}:${enc(ns)}:`;
    const found = (await this.keys(CHECKPOINTS_NAMESPACE, prefix))
      .map(parseCheckpointKey)
      .filter(
        (k) =>
          (ns === undefined || k.ns === ns) &&
          (!onlyId || k.id === onlyId) &&
          (beforeId === undefined || k.id < beforeId),
      )
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    // Fetched in small parallel batches: listing is history, read from warm through the tiers.
    for (let i = 0; i < found.length && (remaining === undefined || remaining > 0); i += 16) {
      const batch = found.slice(i, i + 16);
      const records = await Promise.all(
        batch.map((k) =>
          Promise.all([
            this.read<CheckpointValue>(checkpointKey(k.thread, k.ns, k.id)),
            this.read<WritesValue>(writesKey(k.thread, k.ns, k.id)),
          ]),
        ),
      );
      for (let j = 0; j < batch.length; j++) {
        const [record, writes] = records[j]!;
        if (!record) continue; // deleted meanwhile
        const value = record.value as CheckpointValue;
        if (filter && !Object.entries(filter).every(([key, want]) => sameJson(value.m[key], want))) continue;
        if (remaining !== undefined && remaining-- <= 0) return;
        yield await this.toTuple(
          batch[j]!.thread,
          batch[j]!.ns,
          batch[j]!.id,
          value,
          writes?.value as WritesValue | undefined,
        );
      }
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (config.configurable === undefined) throw new Error('Missing "configurable" field in "config" param');
    const threadId = config.configurable.thread_id as string | undefined;
    if (threadId === undefined || threadId === null)
      throw new Error('Missing "thread_id" field in "config.configurable": a checkpointer needs a thread id');
    const ns = (config.configurable.checkpoint_ns as string | undefined) ?? "";
    const parentId = (config.configurable.checkpoint_id as string | undefined) || null;
    const { channel_values: values = {}, ...rest } = checkpoint;

    const blobs: CheckpointValue["b"] = {};
    await Promise.all(
      Object.entries(newVersions).map(async ([channel, version]) => {
        blobs[channel] = [version, channel in values ? await this.pack(values[channel]) : null];
      }),
    );
    const refs: CheckpointValue["r"] = {};
    const parentIndex = parentId ? await this.indexOf(threadId, ns, parentId) : {};
    for (const [channel, version] of Object.entries(checkpoint.channel_versions ?? {})) {
      if (channel in blobs) continue;
      const held = parentIndex[channel];
      if (held && held[0] === version) refs[channel] = held;
    }
    const [, m] = await this.serde.dumpsTyped(metadata);
    const value: CheckpointValue = {
      p: parentId,
      c: JSON.parse(JSON.stringify(rest)),
      m: JSON.parse(utf8(m)),
      b: blobs,
      r: refs,
    };
    // One durable write (the checkpoint) and, in parallel, the head in the hot tier.
    await Promise.all([
      this.state.put(this.ref(checkpointKey(threadId, ns, checkpoint.id)), value),
      this.advanceHead(threadId, ns, checkpoint.id),
    ]);

    const index: Record<string, [ChannelVersion, string]> = { ...refs };
    for (const [channel, [version]] of Object.entries(blobs)) index[channel] = [version, checkpoint.id];
    this.blobIndex.set(`${threadId}\u0000${ns}\u0000${checkpoint.id}`, index);
    // A new checkpoint has no pending writes: its first putWrites creates them without reading first
    // (saving a lookup through every tier). Were some written meanwhile, the create conflicts and retries.
    const writes = writesKey(threadId, ns, checkpoint.id);
    if (!this.writesCache.has(writes)) this.writesCache.set(writes, { value: { w: [] }, version: 0 });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const threadId = config.configurable?.thread_id as string | undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const checkpointId = config.configurable?.checkpoint_id as string | undefined;
    if (threadId === undefined || threadId === null)
      throw new Error('Missing "thread_id" field in "config.configurable"');
    if (!checkpointId) throw new Error('Missing "checkpoint_id" field in "config.configurable"');
    const packed = await Promise.all(
      writes.map(async ([channel, v], i) => ({
        idx: WRITES_IDX_MAP[channel] ?? i,
        channel,
        value: await this.pack(v),
      })),
    );
    const key = writesKey(threadId, ns, checkpointId);
    await this.serialized(key, async () => {
      let current =
        this.writesCache.get(key) ??
        (await this.read<WritesValue>(key).then((r) => r && { value: r.value as WritesValue, version: r.version }));
      for (let attempt = 0; ; attempt++) {
        const entries = [...(current?.value.w ?? [])];
        for (const w of packed) {
          const at = entries.findIndex((e) => e[0] === taskId && e[1] === w.idx);
          // Regular writes keep the first value (a retried task rewrites the same thing); special channels (errors,
          // interrupts) take the latest.
          if (at >= 0 && w.idx >= 0) continue;
          const entry: WritesValue["w"][number] = [taskId, w.idx, w.channel, w.value, taskPath];
          if (at >= 0) entries[at] = entry;
          else entries.push(entry);
        }
        entries.sort((a, b) => compareWritesSortKeys(writesSortKey(a[4], a[0], a[1]), writesSortKey(b[4], b[0], b[1])));
        const value: WritesValue = { w: entries };
        try {
          const { record } = await this.state.put(
            this.ref(key),
            value,
            current && current.version > 0 ? { ifVersion: current.version } : { createOnly: true },
          );
          this.writesCache.set(key, { value, version: record.version });
          break;
        } catch (err) {
          if (!isConflict(err) || attempt >= CAS_RETRIES) throw err;
          const fresh = await this.read<WritesValue>(key, "strong");
          current = fresh && { value: fresh.value as WritesValue, version: fresh.version };
        }
      }
    });
    // If this is the thread's newest checkpoint, its head now says it has writes (readers fetch them).
    await this.updateHead(threadId, ns, (head) =>
      head?.id === checkpointId && !head.writes ? { id: checkpointId, writes: true } : undefined,
    );
  }

  async deleteThread(threadId: string): Promise<void> {
    const heads = (await this.keys(HEADS_NAMESPACE, `h:${enc(threadId)}:`)).map((key) =>
      this.ref(key, HEADS_NAMESPACE),
    );
    const records = (
      await Promise.all(["c", "w"].map((kind) => this.keys(CHECKPOINTS_NAMESPACE, `${kind}:${enc(threadId)}:`)))
    )
      .flat()
      .map((key) => this.ref(key));
    const refs = [...heads, ...records]; // heads first: a reader never follows a head to a deleted checkpoint
    for (let i = 0; i < refs.length; i += 32) {
      await Promise.all(refs.slice(i, i + 32).map((ref) => this.state.delete(ref)));
    }
    for (const cache of [this.blobIndex, this.heads, this.writesCache] as LRUCache<string, object>[]) {
      for (const key of [...cache.keys()])
        if (key.startsWith(`${threadId}\u0000`) || key.startsWith(`w:${enc(threadId)}:`)) cache.delete(key);
    }
  }

  // ------------------------------------------------------------------------------------------

  private ref(key: string, namespace = CHECKPOINTS_NAMESPACE): StateRef {
    return { tenant: this.tenant, namespace, key };
  }

  private read<T>(
    key: string,
    consistency?: "strong",
    namespace = CHECKPOINTS_NAMESPACE,
  ): Promise<(StateRecord & { value: T }) | undefined> {
    return this.state.readStored(this.ref(key, namespace), consistency ? { consistency } : undefined) as Promise<
      (StateRecord & { value: T }) | undefined
    >;
  }

  /** Every key under a prefix (checkpoints: through the warm tier's list; heads: the hot tier's). */
  private async keys(namespace: string, prefix: string): Promise<string[]> {
    const out: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.state.list(this.tenant, namespace, { prefix, limit: LIST_PAGE, cursor });
      for (const item of page.items) out.push(item.key);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  /**
   * The thread's head, from the hot tier. When the hot tier lost it (restart, expiry) or cannot answer
   * (down, its circuit open), it is rebuilt from the stored checkpoints: the newest id, as PostgresSaver
   * defines "latest". The hot tier only ever speeds this up; the checkpoints are the truth.
   */
  private async readHead(threadId: string, ns: string, consistency?: "strong"): Promise<Head | undefined> {
    const cacheKey = `${threadId}\u0000${ns}`;
    const hotDown = (err: unknown) => {
      if (!isStateError(err) || err.code !== "unavailable") throw err;
      return undefined;
    };
    const stored = await this.read<HeadValue>(headKey(threadId, ns), consistency, HEADS_NAMESPACE).catch(hotDown);
    if (stored) {
      const head = { ...(stored.value as HeadValue), version: stored.version };
      this.heads.set(cacheKey, head);
      return head;
    }
    const newest = (await this.keys(CHECKPOINTS_NAMESPACE, `c:${enc(threadId)}:${enc(ns)}:`))
      .map((k) => parseCheckpointKey(k).id)
      .sort()
      .pop();
    this.heads.delete(cacheKey);
    if (!newest) return undefined;
    // Writes unknown: say yes, so readers look. A hot tier that cannot take the head now gets it later.
    await this.updateHead(
      threadId,
      ns,
      (head) => (head && head.id >= newest ? undefined : { id: newest, writes: true }),
      null,
    ).catch(hotDown);
    return this.heads.get(cacheKey) ?? { id: newest, writes: true, version: 0 };
  }

  /** Moves the head to `id` unless it already names a newer checkpoint (ids sort by time). */
  private advanceHead(threadId: string, ns: string, id: string): Promise<void> {
    return this.updateHead(threadId, ns, (head) => (head && head.id >= id ? undefined : { id, writes: false }));
  }

  /**
   * Compare-and-set on the head: `change` gets the current head and returns the new value, or
   * undefined for no change. Starts from the head this process last saw (no read), `null` = known absent.
   */
  private async updateHead(
    threadId: string,
    ns: string,
    change: (head: Head | undefined) => HeadValue | undefined,
    start?: Head | null,
  ): Promise<void> {
    const cacheKey = `${threadId}\u0000${ns}`;
    const ref = this.ref(headKey(threadId, ns), HEADS_NAMESPACE);
    let head: Head | undefined =
      start === null
        ? undefined
        : (start ??
          this.heads.get(cacheKey) ??
          (await this.read<HeadValue>(ref.key, undefined, HEADS_NAMESPACE).then(
            (r) => r && { ...(r.value as HeadValue), version: r.version },
          )));
    for (let attempt = 0; ; attempt++) {
      const next = change(head);
      if (!next) return;
      try {
        const { record } = await this.state.put(ref, next, head ? { ifVersion: head.version } : { createOnly: true });
        this.heads.set(cacheKey, { ...next, version: record.version });
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= CAS_RETRIES) throw err;
        const fresh = await this.read<HeadValue>(ref.key, "strong", HEADS_NAMESPACE);
        head = fresh && { ...(fresh.value as HeadValue), version: fresh.version };
      }
    }
  }

  /** Where each channel's value of checkpoint `id` is stored. */
  private async indexOf(threadId: string, ns: string, id: string): Promise<Record<string, [ChannelVersion, string]>> {
    const cached = this.blobIndex.get(`${threadId}\u0000${ns}\u0000${id}`);
    if (cached) return cached;
    const record = await this.read<CheckpointValue>(checkpointKey(threadId, ns, id));
    if (!record) return {};
    const value = record.value as CheckpointValue;
    const index: Record<string, [ChannelVersion, string]> = { ...value.r };
    for (const [channel, [version]] of Object.entries(value.b)) index[channel] = [version, id];
    return index;
  }

  private async toTuple(
    threadId: string,
    ns: string,
    id: string,
    value: CheckpointValue,
    writes: WritesValue | undefined,
  ): Promise<CheckpointTuple> {
    const channelValues: Record<string, unknown> = {};
    const holders = new Map<string, string[]>();
    for (const [channel, [, holder]] of Object.entries(value.r))
      holders.set(holder, [...(holders.get(holder) ?? []), channel]);
    const held = await Promise.all(
      [...holders.keys()].map((holder) => this.read<CheckpointValue>(checkpointKey(threadId, ns, holder))),
    );
    const sources: [string, [ChannelVersion, Packed | null] | undefined][] = Object.entries(value.b);
    [...holders.entries()].forEach(([, channels], i) => {
      const b = (held[i]?.value as CheckpointValue | undefined)?.b;
      for (const channel of channels)
        sources.push([channel, b?.[channel]?.[0] === value.r[channel]![0] ? b[channel] : undefined]);
    });
    await Promise.all(
      sources.map(async ([channel, blob]) => {
        if (blob?.[1]) channelValues[channel] = await this.unpack(blob[1]);
      }),
    );
    const checkpoint = {
      ...value.c,
      channel_versions: { ...(value.c.channel_versions ?? {}) },
      versions_seen: value.c.versions_seen ?? {},
      channel_values: channelValues,
    } as Checkpoint;
    if (checkpoint.v < 4 && value.p) await this.migratePendingSends(checkpoint, threadId, ns, value.p);
    const parentConfig = value.p
      ? { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: value.p } }
      : undefined;
    const pendingWrites: CheckpointPendingWrite[] = await Promise.all(
      (writes?.w ?? []).map(
        async ([taskId, , channel, v]) => [taskId, channel, await this.unpack(v)] as CheckpointPendingWrite,
      ),
    );
    return {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: id } },
      checkpoint,
      metadata: (await this.serde.loadsTyped("json", JSON.stringify(value.m))) as CheckpointMetadata,
      ...(parentConfig ? { parentConfig } : {}),
      pendingWrites,
    };
  }

  /** Checkpoints before format v4 kept pending sends as writes to TASKS on their parent: fold them in, as LangGraph's savers do. */
  private async migratePendingSends(
    checkpoint: Checkpoint,
    threadId: string,
    ns: string,
    parentId: string,
  ): Promise<void> {
    const parentWrites = (await this.read<WritesValue>(writesKey(threadId, ns, parentId)))?.value as
      | WritesValue
      | undefined;
    const sends = await Promise.all(
      (parentWrites?.w ?? []).filter((w) => w[2] === TASKS).map((w) => this.unpack(w[3])),
    );
    checkpoint.channel_values[TASKS] = sends;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  private async pack(value: unknown): Promise<Packed> {
    const [t, bytes] = await this.serde.dumpsTyped(value);
    const data =
      typeof bytes === "string" ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (data.byteLength >= COMPRESS_FROM_BYTES) return { t, z: deflateRawSync(data, { level: 1 }).toString("base64") };
    if (t === "json") return { t, j: JSON.parse(data.toString("utf8")) };
    return { t, b: data.toString("base64") };
  }

  private unpack(p: Packed): Promise<unknown> {
    if ("j" in p) return this.serde.loadsTyped(p.t, JSON.stringify(p.j));
    const data = "z" in p ? inflateRawSync(Buffer.from(p.z, "base64")) : Buffer.from(p.b, "base64");
    return this.serde.loadsTyped(p.t, p.t === "json" ? data.toString("utf8") : new Uint8Array(data));
  }

  /** Runs `fn` after every earlier call for the same key in this process has finished. */
  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.writeQueues.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => {});
    this.writeQueues.set(key, tail);
    void tail.then(() => {
      if (this.writeQueues.get(key) === tail) this.writeQueues.delete(key);
    });
    return run;
  }
}

// Thread ids and namespaces are caller-chosen text: percent-encoded so ':' always separates parts.
const enc = (s: string) => encodeURIComponent(s);
const headKey = (thread: string, ns: string) => `h:${enc(thread)}:${enc(ns)}`;
const checkpointKey = (thread: string, ns: string, id: string) => `c:${enc(thread)}:${enc(ns)}:${enc(id)}`;
const writesKey = (thread: string, ns: string, id: string) => `w:${enc(thread)}:${enc(ns)}:${enc(id)}`;

function parseCheckpointKey(key: string): { thread: string; ns: string; id: string } {
  const [, thread = "", ns = "", id = ""] = key.split(":");
  return { thread: decodeURIComponent(thread), ns: decodeURIComponent(ns), id: decodeURIComponent(id) };
}

function utf8(bytes: Uint8Array | string): string {
  return typeof bytes === "string"
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
