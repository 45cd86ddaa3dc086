// JSON nested past the server's depth limit, and the request bodies that carry it, shared by the tests
// that check the answer (test/integration/bounds.int.test.ts) and the time it takes (test/solo/bounds-latency.test.ts).

/** How deep the hostile bodies nest: far past the limit (64), as an attacker would. */
export const DEEP = 20_000;
export const deepArray = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
export const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** [method, path, body, content type] */
export type DeepRequest = [string, string, string, string];

/** One request per JSON-parsing route a state writer and an agent caller reach, each nested `DEEP` deep. */
export function deepBodies(): DeepRequest[] {
  return [
    ["PATCH", "/api/v1/state/kv/doc", deepObject(DEEP), "application/merge-patch+json"],
    [
      "PATCH",
      "/api/v1/state/kv/doc",
      `[{"op":"add","path":"/x","value":${deepArray(DEEP)}}]`,
      "application/json-patch+json",
    ],
    [
      "POST",
      "/api/v1/transactions",
      `{"operations":[{"op":"put","namespace":"kv","key":"doc","value":${deepArray(DEEP)}}]}`,
      "application/json",
    ],
    [
      "POST",
      "/api/v1/agents/assistant/invoke",
      `{"messages":[{"role":"user","content":"hi, I am Ada"}],"entities":{"x":${deepObject(DEEP)}}}`,
      "application/json",
    ],
  ];
}
