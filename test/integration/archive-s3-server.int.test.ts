import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ArchiveStore } from "../../server/state/archive";
import { demoteToCold } from "../../server/state/demote";
import { PostgresStore } from "../../server/state/postgres";
import { RedisStore } from "../../server/state/redis";
import { TieredStore } from "../../server/state/tiered";
import { apiSuite } from "../helpers/api";
import { startS3, type TestS3 } from "../helpers/s3";

/** The server as deployed with ARCHIVE_S3_BUCKET: its cold tier is the bucket, and archived keys read back through the API. */
describe("a server with ARCHIVE_S3_BUCKET archives to S3 and restores through the API", { timeout: 180_000 }, () => {
  let s3: TestS3;
  // Before the suite's own hooks: the bucket is there when the server starts.
  before(async () => {
    s3 = await startS3();
  });
  const suite = apiSuite({
    env: () => ({
      ARCHIVE_S3_BUCKET: s3.options.bucket,
      ARCHIVE_S3_PREFIX: "statehouse",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.options.credentials!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.options.credentials!.secretAccessKey,
    }),
    keys: { key: "acme" },
  });
  after(async () => {
    await s3?.stop();
  });

  it("reports the S3 cold tier as up", async () => {
    const body = (await (await suite.api.call("/api/ready")).json()) as {
      status: string;
      stores: { tier: string; backend: string; status: string }[];
    };
    assert.deepEqual(
      body.stores.find((s) => s.tier === "cold"),
      { ...body.stores.find((s) => s.tier === "cold"), backend: "s3", status: "up" },
    );
    assert.equal(body.status, "ready");
  });

  it("serves a record moved to the bucket from cold once, with its version, value and history", async () => {
    const path = { ns: "kv", key: "run-42" };
    for (const step of [1, 2, 3]) {
      const put = await suite.clients.key.PUT("/api/v1/state/{ns}/{key}", {
        params: { path },
        body: { value: { step, done: step === 3 } },
      });
      assert.ok(put.response.ok, `PUT ${put.response.status}`);
    }
    // The mover (the lead's sweeper, in production) runs in-process; here, on the same stores the server uses.
    const warm = await PostgresStore.open({ url: suite.api.db.url }, { migrate: false });
    const hot = await RedisStore.fromUrl(suite.api.redis.url, { keyPrefix: suite.api.env.STATEHOUSE_KEY_PREFIX });
    const archive = ArchiveStore.onS3({ ...s3.options, prefix: "statehouse" });
    const mover = new TieredStore({ hot, warm, cold: archive, durabilityOf: () => "durable" });
    try {
      assert.equal((await demoteToCold(mover, { tenant: "acme", namespace: "kv", key: "run-42" })).outcome, "archived");
    } finally {
      await mover.close();
    }

    const restored = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path } });
    assert.equal(restored.response.status, 200);
    assert.equal(restored.response.headers.get("statehouse-tier"), "cold");
    assert.equal(restored.response.headers.get("etag"), '"3"');
    assert.deepEqual(restored.data?.value, { step: 3, done: true });
    const again = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path } });
    assert.notEqual(again.response.headers.get("statehouse-tier"), "cold");
    assert.equal(again.response.headers.get("etag"), '"3"');
    const history = await suite.clients.key.GET("/api/v1/state/{ns}/{key}/history", { params: { path } });
    assert.deepEqual(
      history.data?.versions.map((h) => h.version),
      [3, 2, 1],
    );
  });

  it("never writes the S3 secret to its logs, and reports a missing bucket as a degraded cold tier", async () => {
    await suite.api.restart({
      ARCHIVE_S3_BUCKET: s3.missingBucket,
      AWS_SECRET_ACCESS_KEY: "not-the-right-secret-but-a-secret",
    });
    const body = (await (await suite.api.call("/api/ready")).json()) as {
      status: string;
      stores: { tier: string; status: string }[];
    };
    assert.equal(body.stores.find((s) => s.tier === "cold")?.status, "down");
    assert.equal(body.status, "degraded");
    const logs = suite.api.server.logs.join("");
    assert.doesNotMatch(logs, /not-the-right-secret/);
  });
});
