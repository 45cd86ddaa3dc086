import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiKeyService } from "../../server/auth/api-keys";
import { AuthThrottle } from "../../server/auth/auth-throttle";
import { safeEqual } from "../../server/auth/safe-equal";
import { loadConfig, ConfigError } from "../../server/config";
import { ClientAddresses, UNKNOWN_ADDRESS } from "../../server/http/client-address";

describe("client addresses for the failed-auth throttle", () => {
  it("uses the socket and ignores X-Forwarded-For when no proxy is trusted", () => {
    const none = new ClientAddresses(undefined);
    assert.equal(none.resolve("203.0.113.9", "1.2.3.4"), "203.0.113.9");
    assert.equal(none.resolve("::ffff:203.0.113.9", undefined), "203.0.113.9");
    assert.equal(
      none.resolve(undefined, "1.2.3.4"),
      UNKNOWN_ADDRESS,
      "no socket (Next.js mount) and no trusted proxy: one shared address",
    );
  });

  it("walks X-Forwarded-For from the right past trusted proxies only", () => {
    const trust = new ClientAddresses("10.0.0.0/8, 192.0.2.1");
    assert.equal(
      trust.resolve("10.1.2.3", "6.6.6.6, 198.51.100.4"),
      "198.51.100.4",
      "the client-written left part is ignored",
    );
    assert.equal(trust.resolve("10.1.2.3", "198.51.100.4, 192.0.2.1"), "198.51.100.4", "two trusted hops");
    assert.equal(trust.resolve("198.51.100.99", "1.1.1.1"), "198.51.100.99", "an untrusted peer's header is ignored");
    assert.equal(trust.resolve("10.1.2.3", undefined), "10.1.2.3", "a trusted proxy that forwarded nothing");
    assert.equal(trust.resolve("10.1.2.3", "198.51.100.4:5555"), "198.51.100.4");
    assert.equal(
      trust.resolve("10.1.2.3", "garbage, 10.0.0.1"),
      "10.0.0.1",
      "an unreadable hop ends the walk at the last readable one",
    );
    assert.equal(
      trust.resolve(undefined, "6.6.6.6, 198.51.100.4"),
      "198.51.100.4",
      "no socket: the named proxy's entry",
    );
    assert.ok(trust.isTrustedPeer("::ffff:10.0.0.7"));
    assert.ok(!trust.isTrustedPeer("11.0.0.1"));
  });

  it("counts IPv6 clients per /64", () => {
    const none = new ClientAddresses();
    assert.equal(none.resolve("2001:db8:a:b:1:2:3:4", undefined), "2001:db8:a:b::/64");
    assert.equal(none.resolve("2001:DB8:A:B::FFFF", undefined), "2001:db8:a:b::/64");
    assert.equal(none.resolve("2001:db8::1", undefined), "2001:db8:0:0::/64");
    assert.equal(none.resolve("::1", undefined), "0:0:0:0::/64");
    assert.equal(new ClientAddresses("loopback").resolve("::1", "2001:db8:0:1::5"), "2001:db8:0:1::/64");
  });

  it("refuses a STATEHOUSE_TRUST_PROXY that is not addresses or ranges, naming the entry", () => {
    assert.throws(
      () => loadConfig({ STATEHOUSE_TRUST_PROXY: "10.0.0.0/8, proxy.internal" }),
      (e: unknown) => e instanceof ConfigError && /STATEHOUSE_TRUST_PROXY.*proxy\.internal/.test(e.message),
    );
    assert.throws(() => loadConfig({ STATEHOUSE_TRUST_PROXY: "10.0.0.0/33" }), ConfigError);
    assert.equal(
      loadConfig({ STATEHOUSE_TRUST_PROXY: "loopback, fd00::/8, 172.16.0.0/12" }).STATEHOUSE_TRUST_PROXY,
      "loopback, fd00::/8, 172.16.0.0/12",
    );
    assert.throws(
      () => loadConfig({ STATEHOUSE_HEADERS_TIMEOUT_MS: "20000", STATEHOUSE_REQUEST_TIMEOUT_MS: "10000" }),
      ConfigError,
    );
  });
});

describe("the failed-auth throttle", () => {
  it("answers 401 for the first N failures of a window, then refuses until the window ends; addresses are separate", async () => {
    let now = 1_000_000_012_345; // the window starts at the first failure, wherever that falls
    const throttle = new AuthThrottle({ failures: 3, windowMs: 60_000, now: () => now });
    assert.equal(throttle.anyBlocked(), false);
    assert.deepEqual([await throttle.fail("a"), await throttle.fail("a")], [0, 0]);
    assert.equal(throttle.blockedFor("a"), 0);
    assert.equal(await throttle.fail("a"), 0, "the Nth failure is still a 401");
    assert.equal(throttle.blockedFor("a"), 60, "then the address waits out the window");
    assert.equal(throttle.anyBlocked(), true);
    assert.equal(await throttle.fail("a"), 60);
    assert.equal(throttle.blockedFor("b"), 0, "other addresses are not affected");
    assert.equal(await throttle.fail("b"), 0);
    now += 59_500;
    assert.equal(throttle.blockedFor("a"), 1);
    now += 600;
    assert.equal(throttle.blockedFor("a"), 0, "60 s after the first failure: a fresh budget");
    assert.equal(throttle.anyBlocked(), false);
    assert.equal(await throttle.fail("a"), 0);
  });

  it("keeps a bounded number of addresses", async () => {
    const throttle = new AuthThrottle({ failures: 1, windowMs: 60_000, maxAddresses: 100 });
    for (let i = 0; i < 1000; i++) await throttle.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.equal((throttle as unknown as { entries: { size: number } }).entries.size, 100);
  });
});

describe("constant-time comparison", () => {
  it("compares values of any length", () => {
    assert.ok(safeEqual("abc", "abc"));
    assert.ok(!safeEqual("abc", "abd"));
    assert.ok(!safeEqual("", "abc"));
    assert.ok(!safeEqual("abc".repeat(1000), "abc"));
  });
});

describe("what a throttled address may still present", () => {
  it("recognises a 32+ character admin token in memory, but gives no verdict on a shorter one", () => {
    const noDatabase = {} as ConstructorParameters<typeof ApiKeyService>[0];
    const long = `${"x".repeat(20)}-long-admin-token`;
    assert.ok(new ApiKeyService(noDatabase, long).knownSecretMatches(long));
    assert.ok(!new ApiKeyService(noDatabase, long).knownSecretMatches(`${long}!`));
    assert.ok(
      !new ApiKeyService(noDatabase, "short-admin-token").knownSecretMatches("short-admin-token"),
      "16-31 characters may be guessable",
    );
    assert.ok(
      !new ApiKeyService(noDatabase, long).knownSecretMatches(`shk_${"a".repeat(16)}_${"b".repeat(43)}`),
      "a key id this process has not seen",
    );
  });
});
