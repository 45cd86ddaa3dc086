// How every Statehouse process starts and stops: configuration, telemetry first, its own parts, signals.
import { type Config, type ConfigError, loadConfig } from "./config";
import { errorName, logger } from "./logger";
import { startTelemetry } from "./telemetry/start";

/** What a started process hands back: how to stop it. */
export interface Running {
  close(): Promise<void>;
}

/** The configuration, or exit 2 with the problems named (no stack trace for a typo in an environment variable). */
export function loadConfigOrExit(program: string, check?: (config: Config) => void): Config {
  try {
    const config = loadConfig();
    check?.(config);
    return config;
  } catch (err) {
    if ((err as { name?: unknown })?.name === "ConfigError") {
      process.stderr.write(`${program}: ${(err as ConfigError).message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * Runs a long-lived process: loads the configuration (exit 2 when it is wrong), starts telemetry before
 * anything creates an instrument, calls `start`, and on SIGTERM/SIGINT closes what it started, waiting
 * at most `shutdownMs`. A failure to start exits 1 with its message.
 */
export function runProcess(
  program: string,
  start: (config: Config) => Promise<Running>,
  options: { shutdownMs: number; stopping: string; check?: (config: Config) => void },
): void {
  process.on("unhandledRejection", (reason) => logger.error("unhandled rejection", { error: errorName(reason) }));
  const main = async () => {
    const config = loadConfigOrExit(program, options.check);
    startTelemetry();
    const running = await start(config);
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info(options.stopping, { signal });
      void running.close().finally(() => process.exit(0));
      setTimeout(() => process.exit(0), options.shutdownMs).unref();
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
  };
  main().catch((err: unknown) => {
    process.stderr.write(`${program}: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
