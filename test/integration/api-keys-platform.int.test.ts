// platform:admin on a deployment bootstrapped before the scope existed: its bootstrap key (the oldest
// key of tenant `default` named "bootstrap admin") gets the scope once at start; a key a tenant admin
// names "bootstrap admin" later never does. Real PostgreSQL, the key service as the container uses it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ApiKeyService } from "../../server/auth/api-keys";
import { KeyRepository } from "../../server/auth/key-repository";
import { openWarmDatabase, type WarmDatabase } from "../../server/db/warm-database";
import { createTestDatabase, type TestDatabase } from "../helpers/services";

const LEGACY_ADMIN = ["state:read", "state:write", "agents:invoke", "workflows:run", "admin"];

describe("the bootstrap key and platform:admin", () => {
  let db: TestDatabase;
  let warm: WarmDatabase;
  before(async () => {
    db = await createTestDatabase();
    warm = await openWarmDatabase({ url: db.url }, { migrate: true });
  });
  after(async () => {
    await warm?.close();
    await db?.drop();
  });

  it("upgrades the legacy bootstrap key once, and never a later key named like it", async () => {
    const keys = new ApiKeyService(new KeyRepository(warm.prisma));
    const legacy = await keys.create({ tenant: "default", scopes: LEGACY_ADMIN, name: "bootstrap admin" });
    const tenantAdmin = await keys.create({ tenant: "default", scopes: ["admin"], name: "bootstrap admin" });
    assert.equal(await keys.hasAdminKey(), false, "an admin key is not a platform admin");
    assert.equal((await keys.authenticate(legacy.key))?.scopes.has("platform:admin"), false);

    assert.equal(await keys.upgradeBootstrapKey(), true);
    assert.deepEqual((await keys.get(legacy.id))?.scopes, [...LEGACY_ADMIN, "platform:admin"]);
    assert.equal(
      (await keys.authenticate(legacy.key))?.scopes.has("platform:admin"),
      true,
      "the cached principal was dropped",
    );
    assert.deepEqual((await keys.get(tenantAdmin.id))?.scopes, ["admin"]);
    assert.equal(await keys.hasAdminKey(), true);

    // Later: the bootstrap key revoked, another "bootstrap admin" made: a scope once held is never handed on.
    await keys.revoke(legacy.id);
    assert.equal(await keys.upgradeBootstrapKey(), false);
    assert.deepEqual((await keys.get(tenantAdmin.id))?.scopes, ["admin"]);
    assert.equal(await keys.hasAdminKey(), false, "so the container makes a new bootstrap key");
  });
});
