// npm run db:migrate – applies pending migrations to DATABASE_URL, or to the embedded PGlite database.
import { loadConfigOrExit } from "../bootstrap";
import { warmTarget } from "../clients";
import { openWarmDatabase } from "./warm-database";

const config = loadConfigOrExit("statehouse db:migrate");
const db = await openWarmDatabase(warmTarget(config), { migrate: true });
await db.close();
console.log(`statehouse: ${db.kind} database is up to date`);
