// The capacity forecast is PromQL's predict_linear: a least-squares line through the window's samples,
// read at now + horizon. Checked against a direct computation on a controlled clock.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { CapacityMonitor } from "../../server/telemetry/capacity";

function monitor(counts: number[], stepMs: number, windowMs = 30 * 60_000) {
  let now = 1_000_000;
  let i = 0;
  const m = new CapacityMonitor(new MeterProvider().getMeter("t"), {
    count: async () => [{ agent: "assistant", namespace: "sessions", active: counts[i++]! }],
    agents: ["assistant"],
    windowMs,
    now: () => now,
  });
  return {
    m,
    async run() {
      for (let k = 0; k < counts.length; k++) {
        await m.refresh();
        now += stepMs;
      }
      now -= stepMs; // "now" is the last sample's time
    },
  };
}

describe("capacity forecast", () => {
  it("extrapolates the least-squares trend one hour ahead", async () => {
    const { m, run } = monitor([10, 12, 14, 16], 60_000); // +2 per minute
    await run();
    assert.deepEqual(m.forecast("assistant"), { value: 16 + 2 * 60, perHour: 120 });
  });

  it("fits noisy samples like a direct least-squares computation", async () => {
    const ys = [5, 9, 4, 8, 12, 7];
    const { m, run } = monitor(ys, 10_000);
    await run();
    const xs = ys.map((_, k) => k * 10);
    const mx = xs.reduce((a, b) => a + b) / xs.length;
    const my = ys.reduce((a, b) => a + b) / ys.length;
    const slope = xs.reduce((s, x, k) => s + (x - mx) * (ys[k]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
    const expected = my + slope * (50 + 3600 - mx);
    assert.ok(Math.abs(m.forecast("assistant").value - Math.max(0, expected)) < 0.01);
  });

  it("never forecasts below zero, keeps only the window, and holds steady with one sample", async () => {
    const falling = monitor([100, 50, 0], 60_000);
    await falling.run();
    assert.equal(falling.m.forecast("assistant").value, 0);
    const single = monitor([7], 1000);
    await single.run();
    assert.deepEqual(single.m.forecast("assistant"), { value: 7, perHour: 0 });
    const windowed = monitor([1000, 1000, 1, 2, 3], 60_000, 150_000);
    await windowed.run();
    assert.equal(windowed.m.snapshot().series[0]!.samples.length, 3, "samples older than the window are dropped");
    assert.equal(windowed.m.forecast("assistant").perHour, 60);
  });
});
