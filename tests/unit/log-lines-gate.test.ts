import { parse } from "graphql";
import { describe, expect, it } from "vitest";
import { logLinesOf } from "../../functions/api/src/schema/logs.js";

const line = { flow_run_id: "r", message: "m" };

describe("logLinesOf: the lines a request's write_run_logs fields carry, before coercion", () => {
  it("counts the variables' lists, a single object as one line, and nothing for a missing list", () => {
    const doc = parse(
      "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
    );
    expect(logLinesOf(doc, undefined, { input: { logs: [line, line, line] } })).toBe(3);
    expect(logLinesOf(doc, undefined, { input: { logs: line } })).toBe(1);
    expect(logLinesOf(doc, undefined, { input: {} })).toBe(0);
    expect(logLinesOf(doc, undefined, null)).toBe(0);
  });

  it("counts literal lists, a variable for the list, aliases and fragments, and only the selected mutation", () => {
    const doc = parse(`
      mutation A($logs: [write_run_logs_log_input!]!) {
        a: write_run_logs(input: { logs: [{ flow_run_id: "r" }, { flow_run_id: "s" }] }) { success }
        b: write_run_logs(input: { logs: $logs }) { success }
        ...More
      }
      fragment More on Mutation { c: write_run_logs(input: { logs: { flow_run_id: "t" } }) { success } }
      mutation B { write_run_logs(input: { logs: [] }) { success } }
      query C { __typename }
    `);
    expect(logLinesOf(doc, "A", { logs: [line, line, line, line] })).toBe(2 + 4 + 1);
    expect(logLinesOf(doc, "B", {})).toBe(0);
    expect(logLinesOf(doc, "C", {})).toBe(0);
  });
});
