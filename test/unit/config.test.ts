import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../server/config";
import { s3ArchiveOptions } from "../../server/state/blob-s3";

describe("configuration", () => {
  it("runs on embedded defaults with nothing set", () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 3000);
    assert.equal(c.HOST, "0.0.0.0");
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.REDIS_URL, undefined);
    assert.ok(c.dataDir.endsWith(".statehouse"));
  });

  it("treats empty variables as unset", () => {
    assert.equal(loadConfig({ DATABASE_URL: "", PORT: "" }).PORT, 3000);
  });

  it("names every bad variable without echoing its value", () => {
    try {
      loadConfig({
        PORT: "eighty",
        DATABASE_URL: "mysql://u:hunter2@h/db",
        REDIS_URL: "not a url",
        STATEHOUSE_ADMIN_TOKEN: "short",
      });
      assert.fail("expected a ConfigError");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.message;
      for (const name of ["PORT", "DATABASE_URL", "REDIS_URL", "STATEHOUSE_ADMIN_TOKEN"])
        assert.match(text, new RegExp(name));
      assert.doesNotMatch(text, /hunter2/);
    }
  });

  it("accepts the documented forms", () => {
    const c = loadConfig({
      PORT: "8080",
      DATABASE_URL: "postgresql://localhost/db",
      REDIS_URL: "redis://localhost:6379",
      HOST: "127.0.0.1",
    });
    assert.equal(c.PORT, 8080);
    assert.equal(c.REDIS_URL, "redis://localhost:6379");
  });

  it("builds the S3 archive's options from ARCHIVE_S3_* and the standard AWS variables, only when a bucket is set", () => {
    assert.equal(
      s3ArchiveOptions(loadConfig({ AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI" })),
      undefined,
      "no bucket: the filesystem archive",
    );
    const options = s3ArchiveOptions(
      loadConfig({
        ARCHIVE_S3_BUCKET: "statehouse-archive",
        ARCHIVE_S3_PREFIX: "prod/eu",
        AWS_REGION: "eu-west-1",
        AWS_ENDPOINT_URL: "http://127.0.0.1:9000",
        AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI",
      }),
    );
    assert.deepEqual(options, {
      bucket: "statehouse-archive",
      prefix: "prod/eu",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:9000",
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "wJalrXUtnFEMI", sessionToken: undefined },
    });
    assert.equal(
      s3ArchiveOptions(loadConfig({ ARCHIVE_S3_BUCKET: "statehouse-archive" }))?.credentials,
      undefined,
      "no keys: the SDK's default chain",
    );
  });

  it("refuses a bad bucket name, a bad endpoint, or half a key pair, without echoing the secret", () => {
    for (const env of [
      { ARCHIVE_S3_BUCKET: "Not_A_Bucket" },
      { ARCHIVE_S3_BUCKET: "ok-bucket", AWS_ENDPOINT_URL: "ftp://host" },
      { ARCHIVE_S3_BUCKET: "ok-bucket", AWS_SECRET_ACCESS_KEY: "hunter2-secret" },
    ]) {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) =>
          err instanceof ConfigError && !err.message.includes("hunter2") && /ARCHIVE_S3_BUCKET|AWS_/.test(err.message),
      );
    }
  });
});
