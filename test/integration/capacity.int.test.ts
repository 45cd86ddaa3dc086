// Capacity on the real stores: the active-sessions gauge follows sessions opened and ended (counted in
// PostgreSQL, the source of truth), and the one-hour forecast metric and admin route follow the trend.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startApi } from "../helpers/api";
import { eventually, metricValue } from "../helpers/metrics";

describe("capacity", () => {
  it("statehouse_sessions_active follows sessions opened and ended; the forecast follows the trend", async () => {
    const api = await startApi({ STATEHOUSE_STATS_INTERVAL_MS: "200" });
    try {
      const { key } = await api.clientFor("cap");
      const labels = { agent: "assistant", namespace: "sessions" };
      const active = () => metricValue(api, "statehouse_sessions_active", labels);
      assert.equal(
        await eventually(active, (v) => v === 0),
        0,
        "observed as 0 before any session (so the series always exists)",
      );

      const open = async () =>
        (
          (await (await api.call("/api/v1/agents/assistant/sessions", { method: "POST", key })).json()) as {
            sessionId: string;
          }
        ).sessionId;
      const ids = [await open(), await open(), await open()];
      await eventually(active, (v) => v === 3);
      const { key: other } = await api.clientFor("cap-other");
      await api.call("/api/v1/agents/assistant/sessions", { method: "POST", key: other });
      await eventually(active, (v) => v === 4, 15_000);

      // Rising: the forecast an hour ahead is above the current count.
      const rising = await metricValue(api, "statehouse_sessions_forecast", labels);
      assert.ok(rising > 4, `forecast ${rising} > 4 while sessions grow`);
      const snapshot = (await (await api.call("/api/v1/admin/capacity", { key: api.adminToken })).json()) as {
        horizonSeconds: number;
        series: {
          agent: string;
          namespace: string;
          active: number;
          forecast: number;
          perHour: number;
          samples: { at: string; active: number }[];
        }[];
      };
      assert.equal(snapshot.horizonSeconds, 3600);
      const series = snapshot.series.find((s) => s.agent === "assistant")!;
      assert.equal(series.active, 4);
      assert.ok(series.perHour > 0);
      assert.ok(series.samples.length >= 2);

      for (const id of ids.slice(0, 2))
        assert.equal(
          (await api.call(`/api/v1/agents/assistant/sessions/${id}`, { method: "DELETE", key })).status,
          204,
        );
      await eventually(active, (v) => v === 2);
      assert.equal((await api.call("/api/v1/admin/capacity", { key })).status, 403, "admins only");
    } finally {
      await api.close();
    }
  });
});
