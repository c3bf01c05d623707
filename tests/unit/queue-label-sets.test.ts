import { describe, expect, it } from "vitest";
import { agentTakes, FlowRunKeys, labelSetId } from "#core/flow-run/keys.js";

const T = "11111111-1111-1111-1111-111111111111";

describe("the agents' queue by label set", () => {
  it("names a label set by its labels alone, whatever their order or repeats", () => {
    expect(labelSetId(["gpu", "big"])).toBe(labelSetId(["big", "gpu", "big"]));
    expect(labelSetId(["gpu"])).not.toBe(labelSetId(["gpu", "big"]));
    expect(labelSetId([])).not.toBe(labelSetId([""]));
    // The encoding is unambiguous: no two lists of labels share it.
    expect(labelSetId(["a", "b"])).not.toBe(labelSetId([`a","b`]));
    expect(labelSetId(["x"])).toMatch(/^[0-9a-f]{32}$/);
  });

  it("keys a run's queue partition by tenant and label set, and the old layout by tenant alone", () => {
    const { ready_pk, ready_sk } = FlowRunKeys.ready(T, ["cpu"], "2026-01-01T00:00:00.000Z", "r");
    expect(ready_pk).toBe(`${T}#queue#${labelSetId(["cpu"])}`);
    expect(ready_sk).toBe("2026-01-01T00:00:00.000Z#r");
    expect(FlowRunKeys.legacyReadyPartition(T)).toBe(`${T}#ready`);
    expect(FlowRunKeys.readySet(T, "s")).toEqual({ pk: `${T}#queue-sets`, sk: "s" });
  });

  it("gives a run to an agent as Prefect Server does", () => {
    const agent = (...labels: string[]) => new Set(labels);
    expect(agentTakes(agent(), [])).toBe(true);
    expect(agentTakes(agent("cpu"), [])).toBe(false);
    expect(agentTakes(agent("cpu"), ["cpu"])).toBe(true);
    expect(agentTakes(agent("cpu", "big"), ["cpu"])).toBe(true);
    expect(agentTakes(agent("cpu"), ["cpu", "big"])).toBe(false);
    expect(agentTakes(agent(), ["cpu"])).toBe(false);
  });
});
