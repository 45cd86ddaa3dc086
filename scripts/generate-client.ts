// Writes server/client/schema.d.ts (the typed client's types) from the API's OpenAPI document. Like the Prisma
// client it is generated, not committed: `npm install` and `scripts/prepare-start.mjs` (npm start, npm test, the
// bench) run this; `npm run client:generate` after changing a route's schema while developing.
import { writeFileSync } from "node:fs";
import { generateClientTypes } from "../server/client/generate";

writeFileSync(new URL("../server/client/schema.d.ts", import.meta.url), await generateClientTypes());
console.log("wrote server/client/schema.d.ts");
