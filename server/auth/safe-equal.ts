import { createHash, timingSafeEqual } from "node:crypto";

const digest = (v: string) => createHash("sha256").update(v, "utf8").digest();

/**
 * Compares two secrets (CSRF tokens, bearer tokens) in time that depends on neither value nor its
 * length: both sides are hashed to 32 bytes first, so timingSafeEqual never sees unequal lengths and
 * a mismatch at the first character costs what a mismatch at the last one does.
 */
export function safeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}
