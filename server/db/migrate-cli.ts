// npm run db:migrate – applies pending migrations to DATABASE_URL, or to the embedded PGlite database.
import path from "node:path";
import { loadConfig } from "../config";
import { openWarmDatabase } from "./warm-database";

const config = loadConfig();
const target = config.DATABASE_URL ? { url: config.DATABASE_URL } : { pgliteDir: path.join(config.dataDir, "pglite") };
const db = await openWarmDatabase(target, { migrate: true });
await db.close();
console.log(`statehouse: ${db.kind} database is up to date`);
