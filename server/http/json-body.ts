import { HttpError } from "./problem";

/**
 * Levels of nesting (objects and arrays) a JSON request body may have: `{"value": {...}}` leaves 63 for
 * a stored value. Far above what a real document needs, far below what recursive code (merge patches,
 * zod, serialization, history diffs) survives: every recursion over a request's data is bounded here.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The deepest nesting of `[` and `{` in JSON text, counted outside strings (escapes respected), found
 * by one linear scan that stops as soon as it passes `limit` (then it returns limit + 1). Needs no
 * valid JSON: text that is not JSON gets its depth counted the same way and fails to parse after.
 */
export function jsonNestingDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string natively: the next quote not escaped by an odd run of backslashes ends it.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end === -1) return deepest; // unterminated: JSON.parse will refuse it
        let slashes = 0;
        for (let j = end - 1; text.charCodeAt(j) === BACKSLASH; j--) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Parses a request body as JSON after checking its nesting on the raw text (JSON.parse itself does not
 * recurse, but nearly everything after it does). Throws 400 `too_deep` over MAX_JSON_DEPTH, with the
 * limit in the problem, and 400 `malformed` for text that is not JSON.
 */
export function parseJsonBody(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (text.trim() === "") throw new HttpError("malformed", "the request body is empty");
  if (jsonNestingDepth(text, maxDepth) > maxDepth) {
    throw new HttpError("too_deep", `the request body nests objects and arrays more than ${maxDepth} levels deep`, {
      limitDepth: maxDepth,
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError("malformed", "the request body is not valid JSON");
  }
}
