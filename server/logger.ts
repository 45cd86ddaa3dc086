// Structured JSON logs, and what a log line may say about an error.
/**
 * Structured JSON logs on stdout, one line per event. Fields are chosen by callers; nothing here adds
 * request bodies, keys or secrets. The trace id is attached by callers that have a span.
 */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = ORDER[(process.env.LOG_LEVEL as Level) ?? "info"] ?? ORDER.info;

function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${line}\n`);
}

export const logger = {
  debug: (msg: string, fields?: Record<string, unknown>) => log("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => log("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => log("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => log("error", msg, fields),
};

/**
 * What a log line may say about an error: its class and code only, never its message (driver messages
 * can name hosts, and errors about input can quote it).
 */
export function errorName(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown } | null | undefined;
  return [typeof e?.name === "string" ? e.name : "error", typeof e?.code === "string" ? e.code : undefined]
    .filter(Boolean)
    .join(" ");
}
