import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../server/config";
import { loadDeclaredNamespaces, namespaceRegistryFor } from "../../server/lifecycle/declared-namespaces";
import { upgradeValue } from "../../server/state/schema-upgrade";
import { definePolicy } from "../../server/state/namespaces";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures");

/** definePolicy for a general, durable namespace called `name`, with `fields` on top. */
const testPolicy = (name: string, fields: Partial<Parameters<typeof definePolicy>[0]>) =>
  definePolicy({ name, kind: "general", durability: "durable", description: "", ...fields });

describe("upgraders", () => {
  const policy = testPolicy("steps", {
    description: "three steps",
    schemaVersion: 4,
    upgraders: {
      1: (v) => ({ ...(v as object), a: 1 }),
      2: (v) => {
        const value = v as { a: number; mutated?: boolean };
        value.mutated = true; // an upgrader that mutates its input must not change the caller's value
        if (value.a !== 1) throw new Error("no a");
        return { ...value, b: 2 };
      },
      3: (v) => ({ ...(v as object), c: 3 }),
    },
  });

  it("run one step at a time from the stored version to the current one", () => {
    assert.deepEqual(upgradeValue(policy, {}, 1).value, { a: 1, b: 2, c: 3, mutated: true });
    assert.deepEqual(upgradeValue(policy, { a: 1 }, 3).value, { a: 1, c: 3 });
    assert.deepEqual(upgradeValue(policy, { a: 1 }, 4).value, { a: 1 }, "a current value is left alone");
  });

  it("a throwing upgrader names the failing step and leaves the stored value as it was", () => {
    const stored = { a: 2 };
    assert.throws(
      () => upgradeValue(policy, stored, 2),
      (err: Error & { code?: string; fromSchemaVersion?: number }) =>
        err.code === "upgrade_failed" && err.fromSchemaVersion === 2,
    );
    assert.deepEqual(stored, { a: 2 });
  });

  it("an upgrader that returns something that is not JSON fails like one that throws", () => {
    const bad = testPolicy("bad", { schemaVersion: 2, upgraders: { 1: () => undefined } });
    assert.throws(
      () => upgradeValue(bad, {}, 1),
      (err: Error & { code?: string }) => err.code === "upgrade_failed",
    );
  });

  it("definePolicy refuses a missing upgrader and a schema version that is not a positive integer", () => {
    assert.throws(
      () => testPolicy("gap", { schemaVersion: 3, upgraders: { 1: (v) => v } }),
      /no upgrader from schema version 2/,
    );
    assert.throws(() => testPolicy("zero", { schemaVersion: 0 }), /positive integer/);
  });
});

describe("STATEHOUSE_NAMESPACES", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-namespaces-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const module = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  };
  const configError = async (promise: Promise<unknown>, pattern: RegExp) =>
    assert.rejects(
      promise,
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes("STATEHOUSE_NAMESPACES") && pattern.test(err.message),
    );

  it("loads a TypeScript module's policies next to the built-ins, through definePolicy", async () => {
    const registry = await namespaceRegistryFor({ STATEHOUSE_NAMESPACES: path.join(FIXTURES, "namespaces-v3.ts") });
    assert.equal(registry.getOrThrow("notes").schemaVersion, 3);
    const profiles = registry.getOrThrow("profiles");
    assert.equal(profiles.writeBackUpgrades, true);
    assert.equal(profiles.consistency, "eventual", "a plain object gets definePolicy's defaults");
    assert.ok(Object.isFrozen(profiles));
    assert.ok(registry.has("sessions"));
  });

  it("loads a plain .mjs module", async () => {
    const file = await module(
      "ns.mjs",
      `export default [{ name: "carts", kind: "general", durability: "durable", description: "carts", schemaVersion: 2, upgraders: { 1: (v) => ({ items: v }) } }];`,
    );
    const [carts] = await loadDeclaredNamespaces(file);
    assert.deepEqual(carts!.upgraders[1]!(["x"]), { items: ["x"] });
  });

  it("refuses a bad path, a missing file, a module that is not an array, a broken policy and a name declared twice", async () => {
    assert.throws(() => loadConfig({ STATEHOUSE_NAMESPACES: "/etc/passwd" }), /STATEHOUSE_NAMESPACES/);
    await configError(loadDeclaredNamespaces(path.join(dir, "absent.mjs")), /no such file/);
    await configError(
      loadDeclaredNamespaces(await module("object.mjs", "export default { name: 'x' };")),
      /must be an array/,
    );
    await configError(
      loadDeclaredNamespaces(
        await module(
          "gap.mjs",
          "export default [{ name: 'gap', kind: 'general', durability: 'durable', description: '', schemaVersion: 2 }];",
        ),
      ),
      /policy \[0\].*no upgrader from schema version 1/,
    );
    await configError(
      loadDeclaredNamespaces(await module("throws.mjs", "throw new Error('boom');")),
      /could not be loaded/,
    );
    await configError(
      namespaceRegistryFor({
        STATEHOUSE_NAMESPACES: await module(
          "dup.mjs",
          "export default [{ name: 'kv', kind: 'general', durability: 'durable', description: '' }];",
        ),
      }),
      /declared twice/,
    );
  });
});
