import { defineConfig } from "vitest/config";

// LangGraph's checkpoint-validation suite runs under vitest (with globals). Its spec files end in
// .vitest.ts so node's test runner (npm test's glob is *.test.ts) never picks them up; the node test
// test/langgraph/checkpoint-validation.int.test.ts runs them.
export default defineConfig({
  test: {
    include: ["test/langgraph/*.vitest.ts"],
    globals: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
