import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../server/config";

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
      loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://u:hunter2@h/db", REDIS_URL: "not a url", STATEHOUSE_ADMIN_TOKEN: "short" });
      assert.fail("expected a ConfigError");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.message;
      for (const name of ["PORT", "DATABASE_URL", "REDIS_URL", "STATEHOUSE_ADMIN_TOKEN"]) assert.match(text, new RegExp(name));
      assert.doesNotMatch(text, /hunter2/);
    }
  });

  it("accepts the documented forms", () => {
    const c = loadConfig({ PORT: "8080", DATABASE_URL: "postgresql://localhost/db", REDIS_URL: "redis://localhost:6379", HOST: "127.0.0.1" });
    assert.equal(c.PORT, 8080);
    assert.equal(c.REDIS_URL, "redis://localhost:6379");
  });
});
