import { describe, expect, it } from "vitest";
import { AgentEntity } from "#core/agent/entity.js";
import { FlowRunEntity } from "#core/flow-run/entity.js";
import { ProjectEntity } from "#core/project/entity.js";
import { MODELS } from "#core/query/models.js";

const T = "11111111-1111-4111-8111-111111111111";
const ID = "22222222-2222-4222-8222-222222222222";

describe("entity declarations", () => {
  it("derive the item: primary key, index keys, entity, attributes; no defaults written", () => {
    const item = ProjectEntity.toItem({
      id: ID,
      tenant_id: T,
      name: "etl",
      created: "2026-01-01T00:00:00.000Z",
      updated: "2026-01-01T00:00:00.000Z",
    });
    expect(item).toEqual({
      pk: `${T}#project#${ID}`,
      sk: "project",
      gsi1pk: `${T}#projects`,
      gsi1sk: "etl",
      entity: "project",
      id: ID,
      tenant_id: T,
      name: "etl",
      created: "2026-01-01T00:00:00.000Z",
      updated: "2026-01-01T00:00:00.000Z",
    });
    expect("description" in item).toBe(false);
  });

  it("read back declared attributes only, with declared defaults for missing ones", () => {
    const agent = AgentEntity.fromItem({
      pk: "x",
      sk: "agent",
      gsi3pk: "y",
      entity: "agent",
      id: ID,
      tenant_id: T,
      created: "c",
      updated: "u",
      bookkeeping: 1,
    });
    expect(agent).toEqual({
      id: ID,
      tenant_id: T,
      name: null,
      type: null,
      labels: [],
      core_version: null,
      agent_config_id: null,
      last_queried: null,
      silent_since: null,
      created: "c",
      updated: "u",
    });
  });

  it("give the read model its columns, without hidden bookkeeping", () => {
    expect(FlowRunEntity.columns.state_timestamp).toBe("timestamptz");
    expect(FlowRunEntity.columns.labels).toBe("jsonb");
    expect(FlowRunEntity.columns.version).toBe("Int");
    expect(FlowRunEntity.columns.task_runs_deferred).toBeUndefined();
    const model = MODELS.find((m) => m.name === "flow_run");
    expect(model?.columns).toBe(FlowRunEntity.columns);
  });
});
