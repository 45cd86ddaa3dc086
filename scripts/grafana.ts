// npm run grafana:generate – writes the Grafana dashboards and Grafana's alerting provisioning.
// Dashboards are built from grafana/generate.ts; alerting is derived from the Prometheus rule file
// (the source of truth). test/integration/grafana.int.test.ts fails when the committed files differ.
import { writeFileSync } from "node:fs";
import { generatedGrafanaFiles } from "../grafana/generate";

for (const [file, content] of Object.entries(generatedGrafanaFiles())) {
  writeFileSync(new URL(`../${file}`, import.meta.url), content);
  console.log(`wrote ${file}`);
}
