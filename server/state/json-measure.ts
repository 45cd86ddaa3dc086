import { InvalidError } from "./errors";

/**
 * Containers (objects and arrays) a stored value may nest. Every function that walks a stored value
 * recursively (serialization, structuredClone, history diffs, merge patches, windows) stays far from the
 * stack limit below this. Request bodies are held much lower (server/http/json-body.ts); this bound
 * matters for values built in-process and for JSON Patches, which can deepen a value (a copy into a
 * deeper path).
 */
export const MAX_VALUE_NESTING = 512;

export interface JsonMeasure {
  /** UTF-8 bytes of the value's JSON text, exact when `over` is false; a lower bound when it is true. */
  readonly sizeBytes: number;
  /** Containers on the deepest path: 0 for a scalar, 1 for `[]` or `{"a":1}`. Exact when `over` is false. */
  readonly nesting: number;
  /** True when the walk stopped because the size passed `limitBytes`. */
  readonly over: boolean;
  /** Bytes the walk counted before it stopped (the work done): at most about `limitBytes`. */
  readonly counted: number;
}

// Characters JSON.stringify writes as more than their UTF-8 bytes (quote, backslash, controls) or as a
// \u escape (lone surrogates); valid surrogate pairs also match and take the exact, slower path.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * Measures `Buffer.byteLength(JSON.stringify(value))` without building the text, and checks that the
 * value is plain JSON (throws `invalid`: undefined, functions, BigInt, non-finite numbers, class
 * instances, cycles, nesting over `maxNesting`). Stops as soon as the size passes `limitBytes`, so the
 * work is bounded by the limit, not by the value: every node adds at least one byte.
 */
export function measureJson(value: unknown, limitBytes: number, maxNesting = MAX_VALUE_NESTING): JsonMeasure {
  let size = 0;
  let over = false;
  const visit = (v: unknown, depth: number): number => {
    switch (typeof v) {
      case "string":
        size += stringBytes(v, limitBytes - size);
        if (size > limitBytes) over = true;
        return 0;
      case "boolean":
        size += v ? 4 : 5;
        if (size > limitBytes) over = true;
        return 0;
      case "number":
        if (!Number.isFinite(v)) throw new InvalidError("value contains a non-finite number");
        size += String(v).length;
        if (size > limitBytes) over = true;
        return 0;
      case "object": {
        if (v === null) {
          size += 4;
          if (size > limitBytes) over = true;
          return 0;
        }
        if (depth >= maxNesting) throw new InvalidError(`value nests deeper than ${maxNesting} levels`);
        let deepest = 0;
        size += 2;
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length && !over; i++) {
            if (i > 0) size += 1;
            deepest = Math.max(deepest, visit(v[i], depth + 1));
          }
        } else {
          const proto = Object.getPrototypeOf(v);
          if (proto !== Object.prototype && proto !== null) {
            throw new InvalidError("value must be plain JSON (objects, arrays, strings, numbers, booleans, null)");
          }
          let first = true;
          for (const key in v as Record<string, unknown>) {
            if (over) break;
            if (!Object.hasOwn(v, key)) continue;
            size += (first ? 0 : 1) + stringBytes(key, limitBytes - size) + 1;
            first = false;
            if (size > limitBytes) {
              over = true;
              break;
            }
            deepest = Math.max(deepest, visit((v as Record<string, unknown>)[key], depth + 1));
          }
        }
        if (size > limitBytes) over = true;
        return deepest + 1;
      }
      default:
        throw new InvalidError(`value must be JSON, found ${typeof v}`);
    }
  };
  const nesting = visit(value, 0);
  return { sizeBytes: size, nesting, over, counted: size };
}

/**
 * The JSON text size of one string, quotes included. Beyond `budget` it returns a lower bound (its
 * length + 2) without scanning: a UTF-16 unit is at least one UTF-8 byte.
 */
function stringBytes(s: string, budget: number): number {
  if (s.length + 2 > budget) return s.length + 2;
  if (!NEEDS_ESCAPE.test(s)) return Buffer.byteLength(s, "utf8") + 2;
  return Buffer.byteLength(JSON.stringify(s), "utf8");
}

/** Bytes of a key or string as JSON text (quotes and escapes included). */
export function jsonStringBytes(s: string): number {
  return stringBytes(s, Number.POSITIVE_INFINITY);
}
