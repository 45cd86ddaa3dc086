// problem+json bodies: an error's details extend the problem but never replace its members.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpError, problemResponse } from "../../server/http/problem";
import { StateError } from "../../server/state/errors";
import { WorkflowError } from "../../server/workflows/types";

describe("problemResponse", () => {
  it("keeps type, title, status, code, detail, instance and traceId whatever the details say", async () => {
    const err = new StateError("not_found", "the real detail", {
      type: "x",
      title: "x",
      status: "succeeded",
      code: "x",
      detail: "x",
      instance: "x",
      traceId: "x",
      store: "postgres",
      extra: 1,
    });
    const res = problemResponse(err, { instance: "/api/v1/x", traceId: "t1" });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), {
      type: "https://statehouse.dev/problems/not-found",
      title: "Not found",
      status: 404,
      code: "not_found",
      detail: "the real detail",
      extra: 1,
      instance: "/api/v1/x",
      traceId: "t1",
    });
  });

  it("a finished workflow's state is runStatus, and status stays the HTTP status", async () => {
    const body = (await problemResponse(
      new WorkflowError("workflow_finished", "run r already succeeded", { runStatus: "succeeded" }),
    ).json()) as Record<string, unknown>;
    assert.equal(body.status, 409);
    assert.equal(body.runStatus, "succeeded");
  });

  it("too_deep is a 400 carrying its limit", async () => {
    const res = problemResponse(new HttpError("too_deep", "nested too deep", { limitDepth: 64 }));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { limitDepth: number }).limitDepth, 64);
  });
});
