import { InvalidError, StateError } from "./errors";
import { jsonStringBytes, MAX_VALUE_NESTING, measureJson } from "./json-measure";

/**
 * JSON Patch (RFC 6902) with bounded work. A patch of a few hundred bytes can double a document per
 * operation (`copy` from the root), so the patched value's size is tracked as it grows and the patch is
 * refused as soon as it would pass the limit, before the oversized value exists. Every operation costs
 * at most the bytes it touches, each measure stops at what is left of the budget, and the bytes counted
 * over the whole patch are capped: one patch is O(operations + limit) work, whatever it asks for.
 */

/** Operations in one JSON Patch document. */
export const MAX_PATCH_OPERATIONS = 1000;
/**
 * Bytes one JSON Patch may count, clone or shift while it is applied (subtrees copied, moved, removed,
 * replaced or tested; containers copied on first write; array slots moved by inserts and removes).
 * Catches copy-then-remove loops, which keep the size small while doing a full copy per operation.
 */
export const MAX_PATCH_WORK_BYTES = 16 * 1024 * 1024;

export interface PatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

export interface BoundedPatchOptions {
  /** The patched value may not grow past this many bytes of JSON (the namespace's `maxBytes.fail`). */
  maxBytes: number;
  /** The document's current JSON size, when known (a stored record's `sizeBytes`); measured otherwise. */
  currentBytes?: number;
  maxOperations?: number;
  maxWorkBytes?: number;
  maxNesting?: number;
}

export interface BoundedPatchResult {
  value: unknown;
  /** The patched value's JSON size as tracked (exact for plain JSON). */
  sizeBytes: number;
  /** Bytes counted, cloned or shifted. */
  work: number;
}

const OPS = new Set(["add", "remove", "replace", "move", "copy", "test"]);
const INDEX = /^(0|[1-9][0-9]*)$/;

/** Throws `invalid` (with the operation's index) unless `ops` is a well-formed JSON Patch; `too_large` over the operation cap. */
export function validateJsonPatch(ops: unknown, maxOperations = MAX_PATCH_OPERATIONS): asserts ops is PatchOperation[] {
  if (!Array.isArray(ops)) throw new InvalidError("a JSON Patch document is an array of operations");
  if (ops.length > maxOperations) {
    throw new StateError(
      "too_large",
      `a JSON Patch may have at most ${maxOperations} operations; this one has ${ops.length}`,
      { operations: ops.length, limitOperations: maxOperations },
    );
  }
  ops.forEach((op: unknown, i) => {
    const o = op as Partial<PatchOperation> | null;
    if (o === null || typeof o !== "object" || Array.isArray(o)) fail(i, "an operation is an object");
    if (typeof o.op !== "string" || !OPS.has(o.op)) fail(i, `op must be one of ${[...OPS].join(", ")}`);
    if (typeof o.path !== "string") fail(i, "path must be a string");
    parsePointer(o.path, i, "path");
    if (o.op === "move" || o.op === "copy") {
      if (typeof o.from !== "string") fail(i, `${o.op} needs a from pointer`);
      parsePointer(o.from, i, "from");
    }
    if ((o.op === "add" || o.op === "replace" || o.op === "test") && o.value === undefined)
      fail(i, `${o.op} needs a value`);
  });
}

/**
 * Applies `ops` to `document` without changing it (containers on written paths are copied first, so
 * a value shared with a cache or another attempt stays as it was). Throws `invalid` for an operation
 * that does not apply (with its index), and `too_large` as soon as the value would grow past
 * `maxBytes`, when the patch does more than `maxWorkBytes` of work, or over the operation cap.
 */
export function applyJsonPatchBounded(
  document: unknown,
  ops: readonly PatchOperation[],
  options: BoundedPatchOptions,
): BoundedPatchResult {
  validateJsonPatch(ops, options.maxOperations);
  const maxNesting = options.maxNesting ?? MAX_VALUE_NESTING;
  const maxWork = options.maxWorkBytes ?? MAX_PATCH_WORK_BYTES;
  const { maxBytes } = options;
  let work = 0;
  const spend = (bytes: number, index: number) => {
    work += bytes;
    if (work > maxWork) {
      throw new StateError(
        "too_large",
        `this JSON Patch does more than ${maxWork} bytes of work (copies, moves, removes and array shifts); split it`,
        { operation: index, limitWorkBytes: maxWork },
      );
    }
  };
  // A stored value is within the store's ceiling, so measuring it (when its size is not known) is bounded.
  let size = options.currentBytes ?? measureJson(document, Number.MAX_SAFE_INTEGER, maxNesting).sizeBytes;
  let root = document;
  // Containers made by this patch: safe to change in place. Everything else is copied before a write.
  const owned = new WeakSet<object>();

  const grow = (delta: number, index: number) => {
    // A patch may shrink a value that is already over the limit; it may never grow past it.
    if (delta > 0 && size + delta > maxBytes) tooLarge(index, maxBytes, size + delta);
    size += delta;
  };
  /** Size and nesting of a subtree; stops (as too_large) past `budget`. */
  const measure = (v: unknown, budget: number, index: number) => {
    const m = measureJson(v, Math.max(0, budget), maxNesting);
    spend(m.counted, index);
    return m;
  };
  const own = <T extends object>(container: T, index: number): T => {
    if (owned.has(container)) return container;
    const copy = (Array.isArray(container) ? container.slice() : { ...container }) as T;
    spend(Array.isArray(container) ? container.length : Object.keys(container).length, index);
    owned.add(copy);
    return copy;
  };
  /** The parent container of `tokens`, copied along the way so it can be written. */
  const writableParent = (tokens: string[], index: number): Container => {
    if (root === null || typeof root !== "object") fail(index, "path does not exist");
    root = own(root as object, index);
    let node = root as Container;
    for (let t = 0; t < tokens.length - 1; t++) {
      const child = childOf(node, tokens[t]!, index);
      if (child === null || typeof child !== "object") fail(index, "path does not exist");
      const mine = own(child as object, index) as Container;
      setChild(node, tokens[t]!, mine);
      node = mine;
    }
    return node;
  };
  const read = (tokens: string[], index: number): unknown => {
    let node = root;
    for (const token of tokens) {
      if (node === null || typeof node !== "object") fail(index, "path does not exist");
      node = childOf(node as Container, token, index);
    }
    return node;
  };
  /** Inserts `value` (already measured: `bytes`, `nesting`) at `tokens`; RFC 6902 add. */
  const add = (tokens: string[], value: unknown, bytes: number, nesting: number, index: number) => {
    if (tokens.length + nesting > maxNesting)
      throw new InvalidError(`operation ${index} would nest the value deeper than ${maxNesting} levels`, {
        operation: index,
      });
    if (tokens.length === 0) {
      grow(bytes - size, index);
      root = value;
      return;
    }
    const parent = writableParent(tokens, index);
    const last = tokens[tokens.length - 1]!;
    if (Array.isArray(parent)) {
      const at = last === "-" ? parent.length : arrayIndex(last, parent.length + 1, index);
      grow(bytes + (parent.length > 0 ? 1 : 0), index);
      spend(parent.length - at, index);
      parent.splice(at, 0, value);
      return;
    }
    if (Object.hasOwn(parent, last)) {
      const old = measure(parent[last], size, index).sizeBytes;
      grow(bytes - old, index);
    } else {
      grow((Object.keys(parent).length > 0 ? 1 : 0) + jsonStringBytes(last) + 1 + bytes, index);
    }
    setChild(parent, last, value);
  };
  /** Removes and returns the value at `tokens` with its measured size; RFC 6902 remove. */
  const remove = (tokens: string[], index: number): { value: unknown; bytes: number; nesting: number } => {
    if (tokens.length === 0) {
      const m = measure(root, size, index);
      const value = root;
      grow(4 - size, index);
      root = null;
      return { value, bytes: m.sizeBytes, nesting: m.nesting };
    }
    const parent = writableParent(tokens, index);
    const last = tokens[tokens.length - 1]!;
    const value = childOf(parent, last, index);
    const m = measure(value, size, index);
    if (Array.isArray(parent)) {
      const at = arrayIndex(last, parent.length, index);
      grow(-(m.sizeBytes + (parent.length > 1 ? 1 : 0)), index);
      spend(parent.length - at, index);
      parent.splice(at, 1);
    } else {
      grow(-(m.sizeBytes + jsonStringBytes(last) + 1 + (Object.keys(parent).length > 1 ? 1 : 0)), index);
      delete parent[last];
    }
    return { value, bytes: m.sizeBytes, nesting: m.nesting };
  };

  /** Replaces the existing value at `tokens`; RFC 6902 replace. */
  const replace = (tokens: string[], value: unknown, bytes: number, nesting: number, index: number) => {
    if (tokens.length === 0) return add(tokens, value, bytes, nesting, index);
    if (tokens.length + nesting > maxNesting)
      throw new InvalidError(`operation ${index} would nest the value deeper than ${maxNesting} levels`, {
        operation: index,
      });
    const parent = writableParent(tokens, index);
    const last = tokens[tokens.length - 1]!;
    const old = measure(childOf(parent, last, index), size, index).sizeBytes;
    grow(bytes - old, index);
    setChild(parent, last, value);
  };
  /** Bytes an add at `tokens` would overwrite: the root, or an existing object member (array adds insert). */
  const overwritten = (tokens: string[], index: number): number => {
    if (tokens.length === 0) return size;
    const parent = read(tokens.slice(0, -1), index);
    const last = tokens[tokens.length - 1]!;
    if (parent === null || typeof parent !== "object" || Array.isArray(parent) || !Object.hasOwn(parent, last))
      return 0;
    return measure((parent as Record<string, unknown>)[last], size, index).sizeBytes;
  };
  /** Measures a value about to be inserted; refuses at once if it alone passes what is left. */
  const incoming = (value: unknown, budget: number, index: number) => {
    const m = measure(value, budget, index);
    if (m.over) tooLarge(index, maxBytes, size + m.sizeBytes);
    return m;
  };

  ops.forEach((op, i) => {
    const path = parsePointer(op.path, i, "path");
    switch (op.op) {
      case "add": {
        const m = incoming(op.value, maxBytes, i);
        add(path, clone(op.value), m.sizeBytes, m.nesting, i);
        return;
      }
      case "remove":
        remove(path, i);
        return;
      case "replace": {
        read(path, i); // must exist
        const m = incoming(op.value, maxBytes, i);
        replace(path, clone(op.value), m.sizeBytes, m.nesting, i);
        return;
      }
      case "move": {
        const from = parsePointer(op.from!, i, "from");
        const same = from.length === path.length && from.every((t, k) => t === path[k]);
        if (!same && from.length < path.length && from.every((t, k) => t === path[k]))
          fail(i, "cannot move a value into one of its own children");
        if (same) {
          read(from, i); // must exist; nothing changes
          return;
        }
        const moved = remove(from, i);
        add(path, moved.value, moved.bytes, moved.nesting, i);
        return;
      }
      case "copy": {
        const source = read(parsePointer(op.from!, i, "from"), i);
        // Only what is left of the budget is counted: a copy that cannot fit stops there, unbuilt.
        const m = incoming(source, maxBytes - size + overwritten(path, i), i);
        spend(m.sizeBytes, i); // the deep copy costs as much again
        add(path, clone(source), m.sizeBytes, m.nesting, i);
        return;
      }
      case "test":
        if (!jsonEqual(read(path, i), op.value)) fail(i, "test failed: the value differs");
        return;
    }
  });
  return { value: root, sizeBytes: size, work };
}

type Container = Record<string, unknown> | unknown[];

function tooLarge(index: number, limitBytes: number, atLeast: number): never {
  throw new StateError(
    "too_large",
    `JSON Patch operation ${index} would make the value larger than ${limitBytes} bytes, the namespace's limit`,
    { operation: index, limitBytes, sizeBytes: atLeast },
  );
}

function fail(index: number, why: string): never {
  throw new InvalidError(`JSON Patch operation ${index}: ${why}`, { operation: index });
}

/** RFC 6901: "" is the whole document; otherwise "/"-separated tokens with ~1 for "/" and ~0 for "~". */
function parsePointer(pointer: string, index: number, field: string): string[] {
  if (pointer === "") return [];
  if (pointer[0] !== "/") fail(index, `${field} must be "" or start with "/"`);
  if (/~(?![01])/.test(pointer)) fail(index, `${field} has a "~" not followed by 0 or 1`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function arrayIndex(token: string, length: number, index: number): number {
  if (!INDEX.test(token)) fail(index, `"${token.slice(0, 40)}" is not an array index`);
  const n = Number(token);
  if (n >= length) fail(index, `array index ${n} is out of bounds`);
  return n;
}

function childOf(node: Container, token: string, index: number): unknown {
  if (Array.isArray(node)) return node[arrayIndex(token, node.length, index)];
  if (!Object.hasOwn(node, token)) fail(index, "path does not exist");
  return node[token];
}

function setChild(node: Container, token: string, value: unknown): void {
  if (Array.isArray(node)) node[Number(token)] = value;
  // "__proto__" is an ordinary member in JSON; assigning it would set the object's prototype instead.
  else if (token === "__proto__")
    Object.defineProperty(node, token, { value, writable: true, enumerable: true, configurable: true });
  else node[token] = value;
}

/** A deep copy of plain JSON (nesting already checked by the caller's measure). */
function clone(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(clone);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value))
    setChild(copy as Container, key, clone((value as Record<string, unknown>)[key]));
  return copy;
}

/** JSON equality: objects compare by members regardless of order. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
