// npm run client:generate – writes server/client/schema.d.ts (the typed client's types) from the API's
// OpenAPI document. test/integration/openapi.int.test.ts fails when the committed file is out of date.
import { writeFileSync } from "node:fs";
import { generateClientTypes } from "../server/client/generate";

writeFileSync(new URL("../server/client/schema.d.ts", import.meta.url), await generateClientTypes());
console.log("wrote server/client/schema.d.ts");
