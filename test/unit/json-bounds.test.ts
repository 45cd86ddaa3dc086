// The bounds checked before work is done: the raw-text nesting scan every JSON body passes, the
// measure that sizes a value without serializing it, and JSON Patch applied with its size tracked.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fastJsonPatch from "fast-json-patch";
import { jsonNestingDepth, MAX_JSON_DEPTH, parseJsonBody } from "../../server/http/json-body";
import { measureJson, MAX_VALUE_NESTING } from "../../server/state/json-measure";
import { applyJsonPatchBounded, MAX_PATCH_OPERATIONS, type PatchOperation } from "../../server/state/json-patch";
import { mergePatch } from "../../server/state/service";
import { encodeValue, LIMITS } from "../../server/state/store";

const nested = (depth: number, open = "[", close = "]", inner = "1") =>
  `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return "ok";
};

describe("jsonNestingDepth (raw text, before parsing)", () => {
  it("counts [ and { outside strings, whatever the escapes", () => {
    assert.equal(jsonNestingDepth("1"), 0);
    assert.equal(jsonNestingDepth("[]"), 1);
    assert.equal(jsonNestingDepth('{"a":[{"b":[]}],"c":{}}'), 4);
    assert.equal(jsonNestingDepth(nested(70)), 70);
    assert.equal(jsonNestingDepth(deepObject(65)), 65);
    // Brackets inside strings do not count, escaped quotes do not end a string, an escaped backslash does not escape the quote after it.
    assert.equal(jsonNestingDepth(JSON.stringify({ s: "[[[[{{{{" })), 1);
    assert.equal(jsonNestingDepth(JSON.stringify({ s: 'a"[[[[' })), 1);
    assert.equal(jsonNestingDepth(JSON.stringify({ s: "a\\", t: [[1]] })), 3);
    assert.equal(jsonNestingDepth(JSON.stringify({ s: 'x\\"[[[', t: "\\\\" })), 1);
    assert.equal(jsonNestingDepth('["unterminated [[['), 1);
  });

  it("agrees with the parsed value's depth on random documents", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const gen = (d: number): unknown => {
      const r = rand();
      if (d > 6 || r < 0.3) return rand() < 0.5 ? 's["{\\' : 1;
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 3) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 3) }, (_, i) => [`k${i}"[`, gen(d + 1)]));
    };
    const depth = (v: unknown): number =>
      v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v as object).map(depth)) : 0;
    for (let i = 0; i < 300; i++) {
      const v = gen(0);
      assert.equal(jsonNestingDepth(JSON.stringify(v)), depth(v));
    }
  });

  it("stops at the limit: a 20 000-deep body costs a prefix of the scan", () => {
    assert.equal(jsonNestingDepth(nested(20_000), 64), 65);
  });

  it("parseJsonBody refuses over the limit with too_deep before JSON.parse, keeps malformed for bad JSON", () => {
    assert.equal(MAX_JSON_DEPTH, 64);
    assert.deepEqual(parseJsonBody(nested(64)), JSON.parse(nested(64)));
    for (const text of [nested(65), nested(20_000), deepObject(20_000), `{"value":${nested(64)}}`]) {
      let err: { code?: string; details?: { limitDepth?: number } } = {};
      try {
        parseJsonBody(text);
      } catch (e) {
        err = e as typeof err;
      }
      assert.equal(err.code, "too_deep");
      assert.equal(err.details?.limitDepth, 64);
    }
    assert.equal(
      code(() => parseJsonBody("{not json")),
      "malformed",
    );
    assert.equal(
      code(() => parseJsonBody("  ")),
      "malformed",
    );
  });
});

describe("measureJson", () => {
  const samples: unknown[] = [
    null,
    true,
    false,
    0,
    -0,
    1.5e-7,
    123456789012,
    "",
    "plain",
    'quote " and \\ backslash',
    "\u0000\u001f\n\t",
    "é中😀",
    "\ud800 lone",
    "lone \udfff",
    [],
    {},
    [1, [2, [3]]],
    { a: 1, 'b"c': [null, { d: "e" }], "": 0, "😀": "x" },
    JSON.parse('{"__proto__":{"x":1},"y":2}'),
  ];

  it("equals the UTF-8 size of JSON.stringify, with the nesting", () => {
    for (const v of samples) {
      const m = measureJson(v, Number.MAX_SAFE_INTEGER);
      assert.equal(m.sizeBytes, Buffer.byteLength(JSON.stringify(v), "utf8"), JSON.stringify(v));
      assert.equal(m.over, false);
    }
    assert.equal(measureJson([[], { a: [{}] }], 1e9).nesting, 4);
    assert.equal(measureJson("x", 1e9).nesting, 0);
  });

  it("stops past the limit, having counted about the limit", () => {
    const big = Array.from({ length: 100_000 }, (_, i) => ({ i, s: "x".repeat(20) }));
    const m = measureJson(big, 10_000);
    assert.equal(m.over, true);
    assert.ok(m.counted < 10_100, `counted ${m.counted}`);
    const huge = "y".repeat(5_000_000);
    assert.equal(measureJson(huge, 1000).over, true);
  });

  it("refuses what is not plain JSON, and nesting past the stored-value limit", () => {
    assert.equal(
      code(() => measureJson({ a: undefined }, 1e9)),
      "invalid",
    );
    assert.equal(
      code(() => measureJson([Number.NaN], 1e9)),
      "invalid",
    );
    assert.equal(
      code(() => measureJson(new Date(), 1e9)),
      "invalid",
    );
    assert.equal(
      code(() => measureJson({ f: () => 1 }, 1e9)),
      "invalid",
    );
    let deep: unknown = 1;
    for (let i = 0; i < MAX_VALUE_NESTING; i++) deep = [deep];
    assert.equal(measureJson(deep, 1e9).nesting, MAX_VALUE_NESTING);
    assert.equal(
      code(() => measureJson([deep], 1e9)),
      "invalid",
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(
      code(() => measureJson(cyclic, 1e9)),
      "invalid",
    );
  });

  it("encodeValue refuses over the ceiling without serializing, and sizes exactly below it", () => {
    assert.deepEqual(encodeValue({ a: "é" }), { json: '{"a":"é"}', sizeBytes: 10 });
    assert.equal(
      code(() => encodeValue("z".repeat(LIMITS.maxValueBytes))),
      "too_large",
    );
  });
});

describe("applyJsonPatchBounded", () => {
  const apply = (doc: unknown, ops: PatchOperation[], maxBytes = 1_000_000) =>
    applyJsonPatchBounded(doc, ops, { maxBytes });

  it("matches fast-json-patch on RFC 6902 operations, without changing the input", () => {
    const doc = { a: 1, b: { c: [1, 2, 3], d: "x" }, "e/f": { "~g": true } };
    const cases: PatchOperation[][] = [
      [{ op: "add", path: "/z", value: { n: [1] } }],
      [
        { op: "add", path: "/b/c/1", value: 9 },
        { op: "add", path: "/b/c/-", value: 10 },
      ],
      [
        { op: "remove", path: "/b/c/0" },
        { op: "remove", path: "/a" },
      ],
      [
        { op: "replace", path: "/b/d", value: [1, 2] },
        { op: "replace", path: "/b/c/2", value: null },
      ],
      [
        { op: "move", from: "/b/c", path: "/moved" },
        { op: "move", from: "/moved/0", path: "/moved/-" },
      ],
      [
        { op: "copy", from: "/b", path: "/b2" },
        { op: "add", path: "/b2/c/-", value: 4 },
      ],
      [
        { op: "test", path: "/e~1f/~0g", value: true },
        { op: "remove", path: "/e~1f/~0g" },
      ],
      [
        { op: "add", path: "", value: [1] },
        { op: "add", path: "/0", value: 0 },
      ],
      [
        { op: "add", path: "/a", value: 2 },
        { op: "move", from: "/a", path: "/a" },
      ],
      [{ op: "test", path: "/b", value: { d: "x", c: [1, 2, 3] } }],
    ];
    for (const ops of cases) {
      const before = JSON.stringify(doc);
      const ours = apply(doc, ops);
      const theirs = fastJsonPatch.applyPatch(
        structuredClone(doc),
        structuredClone(ops) as never,
        true,
        false,
      ).newDocument;
      assert.deepEqual(ours.value, theirs, JSON.stringify(ops));
      assert.equal(
        ours.sizeBytes,
        Buffer.byteLength(JSON.stringify(ours.value)),
        `tracked size for ${JSON.stringify(ops)}`,
      );
      assert.equal(JSON.stringify(doc), before, "the input document is unchanged");
    }
  });

  it("refuses operations that do not apply, naming the operation", () => {
    const doc = { a: [1], o: {} };
    const bad: PatchOperation[][] = [
      [{ op: "remove", path: "/missing" }],
      [{ op: "replace", path: "/a/5", value: 1 }],
      [{ op: "add", path: "/a/01", value: 1 }],
      [{ op: "add", path: "/x/y", value: 1 }],
      [{ op: "test", path: "/a", value: [2] }],
      [{ op: "move", from: "/o", path: "/o/inner" }],
      [{ op: "explode", path: "/a" }],
      [{ op: "add", path: "a", value: 1 }],
      [{ op: "add", path: "/a/-" }],
      [{ op: "copy", path: "/b" }],
      [{ op: "remove", path: "/__proto__" }],
    ];
    for (const ops of bad) {
      let err: { code?: string; details?: { operation?: number } } = {};
      try {
        apply(doc, [{ op: "test", path: "/a/0", value: 1 }, ...ops]);
      } catch (e) {
        err = e as typeof err;
      }
      assert.equal(err.code, "invalid", JSON.stringify(ops));
      assert.equal(err.details?.operation, 1, JSON.stringify(ops));
    }
  });

  it("treats __proto__ as an ordinary member", () => {
    const out = apply({}, [{ op: "add", path: "/__proto__", value: { polluted: true } }]).value as Record<
      string,
      unknown
    >;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":true}}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const merged = mergePatch({}, JSON.parse('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    assert.equal(JSON.stringify(merged), '{"__proto__":{"polluted":true}}');
  });

  it("the 30-op root copy is refused once it passes the limit, having done work of about the limit", () => {
    const ops = Array.from({ length: 30 }, (_, i) => ({ op: "copy", from: "", path: `/c${i}` }));
    let err: { code?: string; details?: { operation?: number; limitBytes?: number } } = {};
    const started = performance.now();
    try {
      apply({ seed: "x".repeat(100) }, ops, 64 * 1024);
    } catch (e) {
      err = e as typeof err;
    }
    assert.equal(err.code, "too_large");
    assert.equal(err.details?.limitBytes, 64 * 1024);
    assert.ok((err.details?.operation ?? 99) < 12, `refused at operation ${err.details?.operation}`);
    assert.ok(performance.now() - started < 1000);
  });

  it("caps the work of copy-then-remove loops that keep the size small", () => {
    const big = { big: "b".repeat(400_000) };
    const ops: PatchOperation[] = [];
    for (let i = 0; i < 500; i++) ops.push({ op: "copy", from: "/big", path: "/tmp" }, { op: "remove", path: "/tmp" });
    assert.equal(
      code(() => apply(big, ops.slice(0, MAX_PATCH_OPERATIONS), 1_000_000)),
      "too_large",
    );
    // The same loop, a few times, is fine.
    assert.deepEqual(apply(big, ops.slice(0, 6), 1_000_000).value, big);
  });

  it("caps operations, and shifting large arrays counts as work", () => {
    assert.equal(
      code(() =>
        apply(
          {},
          Array.from({ length: MAX_PATCH_OPERATIONS + 1 }, () => ({ op: "test", path: "", value: {} })),
        ),
      ),
      "too_large",
    );
    const array = new Array(2_000_000).fill(0);
    const shifts: PatchOperation[] = Array.from({ length: 1000 }, () => ({ op: "remove", path: "/0" }));
    assert.equal(
      code(() => applyJsonPatchBounded(array, shifts, { maxBytes: 8 * 1024 * 1024 })),
      "too_large",
    );
  });

  it("a copy into a deeper path cannot nest the value past the stored-value limit", () => {
    let doc: unknown = 1;
    for (let i = 0; i < 40; i++) doc = { a: doc };
    const deeper = "/a".repeat(39);
    const ops: PatchOperation[] = Array.from({ length: 20 }, () => ({ op: "copy", from: "", path: `${deeper}/x` }));
    assert.equal(
      code(() => apply(doc, ops, 8 * 1024 * 1024)),
      "invalid",
    );
  });

  it("a value can shrink when it is already over the limit, never grow", () => {
    const doc = { keep: 1, drop: "d".repeat(2000) };
    assert.deepEqual(applyJsonPatchBounded(doc, [{ op: "remove", path: "/drop" }], { maxBytes: 100 }).value, {
      keep: 1,
    });
    assert.equal(
      code(() => applyJsonPatchBounded(doc, [{ op: "add", path: "/more", value: 1 }], { maxBytes: 100 })),
      "too_large",
    );
  });

  it("stored values as deep as allowed still diff and clone (history, upgrades)", () => {
    let a: unknown = 1;
    let b: unknown = 2;
    for (let i = 0; i < MAX_VALUE_NESTING - 1; i++) {
      a = { n: a };
      b = { n: b };
    }
    assert.equal(fastJsonPatch.compare(a as object, b as object).length, 1);
    assert.deepEqual(structuredClone(a), a);
    assert.ok(JSON.stringify(mergePatch(a, { x: 1 })).length > 0);
  });
});
