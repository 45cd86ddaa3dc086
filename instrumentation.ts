// Next.js calls register() once per process when it runs under `next start`. Statehouse's own server
// (server/main.ts) does not go through it and starts telemetry itself, through the same function.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { startTelemetry } = await import("./server/telemetry/start");
  startTelemetry();
}
