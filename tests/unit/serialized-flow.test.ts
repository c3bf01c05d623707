import { describe, expect, it } from "vitest";
import { ValidationError } from "#core/errors.js";
import { parseSerializedFlow } from "#core/flow/serialized.js";

describe("serialized flows", () => {
  it("accept a parameter without a default (optional in a flow JSON)", () => {
    const flow = parseSerializedFlow({
      name: "f",
      parameters: [{ name: "n", required: true }],
      tasks: [],
      edges: [],
    });
    expect(flow.parameters).toEqual([{ name: "n", required: true }]);
  });

  it("refuse duplicate task slugs and edges to unknown tasks", () => {
    const task = { slug: "a-1", name: "a" };
    expect(() => parseSerializedFlow({ name: "f", tasks: [task, task] })).toThrow(ValidationError);
    expect(() =>
      parseSerializedFlow({
        name: "f",
        tasks: [task],
        edges: [{ upstream_task: { slug: "a-1" }, downstream_task: { slug: "missing" } }],
      }),
    ).toThrow(/unknown task "missing"/);
  });
});
