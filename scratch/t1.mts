import { PostgresStore } from "../server/state/postgres.ts";
const s = await PostgresStore.open({ pgliteDir: "/tmp/pgl-" + Date.now() });
const ref = { tenant: "t", namespace: "n", key: "k" };
console.log(await s.put(ref, "hello"));
console.log(await s.get(ref));
console.log(await s.put(ref, { b: 1, a: [1, 2] }, { ifVersion: 1, ttlSeconds: 10 }));
console.log(await s.get(ref));
try { await s.put(ref, 1, { ifVersion: 1 }); } catch (e) { console.log(e.code, e.details); }
console.log(await s.delete(ref));
console.log(await s.history(ref));
console.log(await s.list("t", "n"));
await s.close();
