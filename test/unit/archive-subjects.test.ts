// The archive's subject markers (ArchiveOptions.subjectOf): what lets forgetting a user find the
// user's archived records without reading the whole archive. keysOf answers exactly the subject's
// keys, checked against each key's object; erasing a key removes its marker.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ArchiveStore } from "../../server/state/archive";
import type { StateRecord } from "../../server/state/store";

const record = (key: string, value: unknown, version = 1): StateRecord => ({
  namespace: "sessions",
  key,
  value,
  version,
  schemaVersion: 1,
  createdAt: new Date(),
  updatedAt: new Date(),
  expiresAt: new Date(Date.now() - 1000), // expired: how sessions reach the archive
  sizeBytes: JSON.stringify(value).length,
});

describe("archive subject markers", () => {
  let dir: string;
  let archive: ArchiveStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-subjects-"));
    archive = ArchiveStore.onFilesystem(dir, {
      subjectOf: (namespace, value) =>
        namespace === "sessions" ? ((value as { userId?: string } | null)?.userId ?? undefined) : undefined,
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("finds a subject's archived keys, expired ones too, and no one else's", async () => {
    await archive.importRecord("t1", record("s-1", { userId: "ada", turns: ["tea"] }));
    await archive.importRecord("t1", record("s-2", { userId: "bob" }));
    await archive.importRecord("t1", record("s-3", { userId: "ada", turns: [] }));
    await archive.importRecord("t2", record("s-4", { userId: "ada" }));
    await archive.importRecord("t1", { ...record("s-5", { userId: "ada" }), namespace: "kv" });
    const keys = (await archive.keysOf("t1", "sessions", "ada")).map((k) => k.key).sort();
    assert.deepEqual(keys, ["s-1", "s-3"]);
    assert.deepEqual((await archive.keysOf("t1", "sessions", "ada")).find((k) => k.key === "s-1")?.value, {
      userId: "ada",
      turns: ["tea"],
    });
    const files = await readdir(dir, { recursive: true });
    assert.ok(!files.some((f) => String(f).includes("ada")), "marker folders are hashes, never the user id");
  });

  it("does not answer a key archived again under another subject, and erasing removes the marker", async () => {
    await archive.importRecord("t1", record("s-6", { userId: "ada" }));
    await archive.importRecord("t1", record("s-6", { userId: "eve" }, 2));
    assert.ok(!(await archive.keysOf("t1", "sessions", "ada")).some((k) => k.key === "s-6"));
    assert.deepEqual(
      (await archive.keysOf("t1", "sessions", "eve")).map((k) => k.key),
      ["s-6"],
    );
    assert.equal((await archive.erase({ tenant: "t1", namespace: "sessions", key: "s-6" })).erased, true);
    assert.deepEqual(await archive.keysOf("t1", "sessions", "eve"), []);
    const markers = await readdir(path.join(dir, "t1", "sessions", "_subjects"), { recursive: true });
    const s6 = Buffer.from("s-6").toString("base64url");
    assert.deepEqual(
      markers.map(String).filter((f) => f.includes(s6)),
      [],
      "both of s-6's markers are gone (eve's erased with the key, ada's stale one when looked up)",
    );
  });
});
