// Next.js calls register() once per process when it runs under `next start`. Statehouse's own server
// (server/main.ts) does not go through it, so process start-up lives in server/ and is shared.
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
}
