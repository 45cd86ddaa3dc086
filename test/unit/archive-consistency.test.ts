import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ArchiveStore } from "../../server/state/archive";
import { type BlobStore, FilesystemBlobStore } from "../../server/state/blob";

/**
 * A blob store that behaves like S3-compatible servers without atomic, read-after-write consistent
 * overwrites (s3rver is one): after each put, the next `badReads` reads of that path see the previous
 * bytes (stale) or half of the new ones (torn). Backed by real files.
 */
class InconsistentBlobs implements BlobStore {
  readonly name = "inconsistent";
  private readonly previous = new Map<string, { bytes: Buffer | undefined; left: number }>();

  constructor(
    private readonly inner: FilesystemBlobStore,
    private readonly mode: "stale" | "torn",
    private readonly badReads: number,
  ) {}

  async get(p: string): Promise<Buffer | undefined> {
    const current = await this.inner.get(p);
    const pending = this.previous.get(p);
    if (!pending || pending.left === 0 || !current) return current;
    pending.left--;
    return this.mode === "stale" ? pending.bytes : current.subarray(0, Math.floor(current.length / 2));
  }

  async put(p: string, body: Buffer): Promise<void> {
    this.previous.set(p, { bytes: await this.inner.get(p), left: this.badReads });
    await this.inner.put(p, body);
  }

  delete(p: string) {
    return this.inner.delete(p);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  ping() {
    return this.inner.ping();
  }
  close() {
    return this.inner.close();
  }
}

describe("the archive on a blob store with torn or stale reads", () => {
  let dir: string;
  const ref = (key: string) => ({ tenant: "acme", namespace: "kv", key });
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-archive-inconsistent-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const mode of ["stale", "torn"] as const) {
    it(`reads its own writes and keeps compare-and-set exact when reads are ${mode}`, async () => {
      const archive = new ArchiveStore(new InconsistentBlobs(new FilesystemBlobStore(path.join(dir, mode)), mode, 2));
      const r = ref(`counter-${mode}`);
      await archive.put(r, { n: 0 });
      for (let i = 1; i <= 20; i++) {
        const cur = (await archive.get(r))!;
        assert.deepEqual(cur.value, { n: i - 1 }, "a read after a write sees that write");
        await archive.put(r, { n: i }, { ifVersion: cur.version });
      }
      const final = await archive.get(r);
      assert.equal(final?.version, 21);
      assert.deepEqual(
        (await archive.history(r)).map((h) => h.version),
        Array.from({ length: 21 }, (_, i) => 21 - i),
      );
    });
  }

  it("fails a write rather than lose an update when reads stay stale", async () => {
    const archive = new ArchiveStore(
      new InconsistentBlobs(new FilesystemBlobStore(path.join(dir, "stuck")), "stale", 1_000),
    );
    const r = ref("stuck");
    await archive.put(r, 1);
    await assert.rejects(archive.put(r, 2), /outdated copy/);
  });
});
