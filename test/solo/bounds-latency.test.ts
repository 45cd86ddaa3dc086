// Runs alone (test/solo): the hostile bodies of issue 14's first Done-when point each answer a 4xx
// within a second, and /api/health answers within a second right after each. The same requests are
// checked for status and unchanged records in test/integration/bounds.int.test.ts; here only time.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { apiSuite } from "../helpers/api";
import { type DeepRequest, deepBodies } from "../helpers/deep-bodies";

describe("bounded work answers within a second", () => {
  const suite = apiSuite({ keys: { key: "acme" } });

  before(async () => {
    const res = await suite.api.send(
      "PUT",
      "/api/v1/state/kv/doc",
      { value: { seed: "x".repeat(200) } },
      { key: suite.key },
    );
    assert.equal(res.status, 201);
  });

  it("deep bodies and the root-copy JSON Patch: 4xx within 1 s, health within 1 s after", async () => {
    const rootCopy = JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ op: "copy", from: "", path: `/c${i}` })));
    const requests: DeepRequest[] = [
      ["PATCH", "/api/v1/state/kv/doc", rootCopy, "application/json-patch+json"],
      ...deepBodies(),
    ];
    for (let round = 0; round < 3; round++) {
      for (const [method, path, body, contentType] of requests) {
        const started = performance.now();
        const res = await suite.api.call(path, {
          method,
          key: suite.key,
          headers: { "content-type": contentType },
          body,
        });
        await res.arrayBuffer();
        const ms = performance.now() - started;
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`);
        assert.ok(ms < 1000, `${method} ${path} took ${ms.toFixed(0)} ms`);
        const healthStarted = performance.now();
        assert.equal((await suite.api.call("/api/health")).status, 200);
        assert.ok(performance.now() - healthStarted < 1000);
      }
    }
    const doc = (await (await suite.api.call("/api/v1/state/kv/doc", { key: suite.key })).json()) as {
      version: number;
    };
    assert.equal(doc.version, 1, "nothing changed");
  });
});
