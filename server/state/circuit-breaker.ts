export type CircuitState = "closed" | "half-open" | "open";

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe call is let through (half-open). */
  openMs?: number;
  now?: () => number;
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/**
 * Consecutive-failure circuit breaker. Closed: calls pass. After `failureThreshold` failures in a row it
 * opens: calls fail fast for `openMs`. Then half-open: one probe passes; its success closes the circuit,
 * its failure opens it again. Kept small and synchronous so it costs nothing on the hot path.
 */
export class CircuitBreaker {
  private current: CircuitState = "closed";
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.current === "open" && this.now() - this.openedAt >= this.openMs) this.transition("half-open");
    return this.current;
  }

  /** Milliseconds until an open circuit lets a probe through; 0 when not open. */
  get retryAfterMs(): number {
    return this.current === "open" ? Math.max(0, this.openMs - (this.now() - this.openedAt)) : 0;
  }

  /** Whether a call may go ahead now. In half-open, only one call at a time (the probe). */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== "closed") this.transition("closed");
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    if (this.current === "half-open" || (this.current === "closed" && this.failures >= this.threshold)) {
      this.openedAt = this.now();
      this.transition("open");
    }
  }

  /**
   * Opens the circuit now, whatever the count: for a failure that says the backend is gone (a call that
   * timed out), where waiting for more failures would make more callers wait out the same timeout.
   */
  trip(): void {
    this.probing = false;
    this.failures = Math.max(this.failures + 1, this.threshold);
    if (this.current === "open") return;
    this.openedAt = this.now();
    this.transition("open");
  }

  private transition(to: CircuitState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.options.onStateChange?.(to, from);
  }
}
