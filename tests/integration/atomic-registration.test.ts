import { randomBytes } from "node:crypto";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { MiddlewareStack } from "@smithy/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import { FlowKeys } from "#core/flow/keys.js";
import { asTenant } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  compress,
  createProject,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * A registration is refused before its first write, and one whose write fails half-way takes back
 * what it wrote: no flow group, no name lock, no task or edge stays behind, and the same name
 * registers afterwards as if nothing had happened.
 */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let projectId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("atomic-register");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  projectId = await createProject(api, "atomic-register");
});

afterAll(async () => {
  await runtime?.stop();
});

async function groupsNamed(name: string): Promise<unknown[]> {
  const data = await ok<{ flow_group: unknown[] }>(
    api,
    `query { flow_group(where: { name: { _eq: "${name}" } }) { id name } }`,
  );
  return data.flow_group;
}

async function nameLock(name: string): Promise<unknown> {
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.nameLock(tenantId, projectId, name),
      ConsistentRead: true,
    }),
  );
  return result.Item;
}

async function flowVersion(flowId: string): Promise<number> {
  const data = await ok<{ flow_by_pk: { version: number } }>(
    api,
    `query { flow_by_pk(id: "${flowId}") { version } }`,
  );
  return data.flow_by_pk.version;
}

function register(flow: unknown) {
  return api(Q.registerFlow, {
    input: { project_id: projectId, serialized_flow: compress(flow), set_schedule_active: true },
  });
}

type Predicate = (command: string, input: Record<string, unknown>) => boolean;

/** A PutItem of a flow item (document or marshalled form). */
const isFlowPut: Predicate = (command, input) => {
  const entity = (input.Item as Record<string, unknown> | undefined)?.entity as unknown;
  return (
    command.startsWith("Put") && (entity === "flow" || (entity as { S?: string } | undefined)?.S === "flow")
  );
};

function flowIdOf(input: Record<string, unknown>): string {
  const id = (input.Item as Record<string, unknown>).id as unknown;
  return typeof id === "string" ? id : String((id as { S?: string }).S);
}

/**
 * Holds the next request `matches` on the runtime's own DynamoDB client before it is sent, until
 * `release()`; then sends it ("pass") or fails it as an outage would ("fail").
 */
function gateNext(matches: Predicate, then: "pass" | "fail") {
  const stack = useDynamo().middlewareStack as unknown as MiddlewareStack<object, object>;
  const name = `gate-${Math.random()}`;
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let onHeld = () => {};
  const held = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  let armed = true;
  stack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? "";
      if (armed && matches(command, args.input as Record<string, unknown>)) {
        armed = false;
        stack.remove(name);
        onHeld();
        await gate;
        if (then === "fail") throw new Error("injected: storage unavailable");
      }
      return next(args);
    },
    { step: "initialize", name },
  );
  return { held, release };
}

/** Makes the next PutItem of a flow item fail as an outage would; reports the id it carried. */
function failNextFlowPut() {
  let flowId: string | undefined;
  const gate = gateNext((command, input) => {
    const hit = isFlowPut(command, input);
    if (hit) flowId = flowIdOf(input);
    return hit;
  }, "fail");
  gate.release();
  return { flowId: () => flowId };
}

describe("registering a flow", () => {
  it("with an invalid schedule answers BAD_USER_INPUT and leaves no flow group and no name lock", async () => {
    const name = "bad-schedule";
    const flow = { ...pipelineFlow(name), schedule: { type: "Schedule", clocks: [{ type: "NoSuchClock" }] } };
    const failure = await fails(api, Q.registerFlow, {
      input: { project_id: projectId, serialized_flow: compress(flow), set_schedule_active: true },
    });
    expect(failure.code).toBe("BAD_USER_INPUT");
    expect(await groupsNamed(name)).toEqual([]);
    expect(await nameLock(name)).toBeUndefined();

    const id = await registerFlow(api, projectId, pipelineFlow(name));
    expect(await flowVersion(id)).toBe(1);
    expect(await groupsNamed(name)).toHaveLength(1);
  });

  it.each([
    ["a name too long for a key (BAD_USER_INPUT)", "n".repeat(1100), () => ({}), "BAD_USER_INPUT"],
    [
      // The edge check of stored values (64 KB for a flow's stored fields) names the field first.
      "a flow item over DynamoDB's 400 KB (BAD_USER_INPUT from the stored-field limit)",
      "too-large-flow",
      () => ({ default: randomBytes(220 * 1024).toString("base64") }),
      "BAD_USER_INPUT",
    ],
  ])("with %s is refused before any write", async (_, name, parameter, code) => {
    const flow = pipelineFlow(name);
    const tooBig = { ...flow, parameters: [{ ...flow.parameters[0], ...parameter() }] };
    const failure = await fails(api, Q.registerFlow, {
      input: { project_id: projectId, serialized_flow: compress(tooBig), set_schedule_active: true },
    });
    expect(failure.code).toBe(code);
    expect(await groupsNamed(name)).toEqual([]);
    // A name over 1,024 bytes cannot even be a lock's key (DynamoDB refuses the read).
    if (name.length < 1024) expect(await nameLock(name)).toBeUndefined();
  });

  it("whose flow write fails half-way leaves no flow, group, task or edge, and registers afterwards", async () => {
    const name = "outage-mid-registration";
    const injected = failNextFlowPut();
    const answer = await register(pipelineFlow(name));
    expect(answer.errors).toBeDefined();
    const failedId = injected.flowId() ?? "";
    expect(failedId).not.toBe("");
    expect(await groupsNamed(name)).toEqual([]);
    await asTenant(tenantId, async () => {
      expect(await Flow.tasksOf(failedId)).toEqual([]);
      expect(await Flow.edgesOf(failedId)).toEqual([]);
      expect(await Flow.fromId(failedId)).toBeUndefined();
    });

    // The name lock, never visible, stays: the next registration of the name uses its version group.
    const lock = (await nameLock(name)) as { version_group_id: string };
    const id = await registerFlow(api, projectId, pipelineFlow(name));
    expect(await flowVersion(id)).toBe(1);
    const flow = await ok<{ flow_by_pk: { version_group_id: string } }>(
      api,
      `query { flow_by_pk(id: "${id}") { version_group_id } }`,
    );
    expect(flow.flow_by_pk.version_group_id).toBe(lock.version_group_id);
    expect(await groupsNamed(name)).toHaveLength(1);
  });

  it("that fails while another registration of the name is under way does not break the other's group", async () => {
    const name = "outage-concurrent";
    // A: claims the name, takes version 1, and is held at its flow write, which then fails.
    const releaseA = gateNext(isFlowPut, "fail");
    const a = register(pipelineFlow(name));
    await releaseA.held;
    // B: finds A's group and is held before taking its version number.
    const releaseB = gateNext(
      (command, input) => command.startsWith("Update") && JSON.stringify(input).includes("version_counter"),
      "pass",
    );
    const b = register(pipelineFlow(name));
    await releaseB.held;
    releaseA.release();
    expect((await a).errors).toBeDefined();
    // A abandoned the group it made (nobody had taken a version since); B ensures it again.
    releaseB.release();
    const answer = await b;
    expect(answer.errors).toBeUndefined();
    const id = (answer.data as { create_flow_from_compressed_string: { id: string } })
      .create_flow_from_compressed_string.id;
    expect(await flowVersion(id)).toBe(1);
    const group = await ok<{ flow_group: Array<{ name: string; flows: Array<{ id: string }> }> }>(
      api,
      `query { flow_group(where: { name: { _eq: "${name}" } }) { name flows { id } } }`,
    );
    expect(group.flow_group).toEqual([{ name, flows: [{ id }] }]);
  });

  it("of a new version whose write fails keeps the group, its lock and its latest version as they were", async () => {
    const name = "outage-new-version";
    const first = await registerFlow(api, projectId, pipelineFlow(name));
    const lock = await nameLock(name);
    const injected = failNextFlowPut();
    expect((await register(pipelineFlow(name))).errors).toBeDefined();
    await asTenant(tenantId, async () => {
      expect(await Flow.tasksOf(injected.flowId() ?? "")).toEqual([]);
    });
    expect(await nameLock(name)).toEqual(lock);
    const group = await ok<{ flow_group: Array<{ flows: Array<{ id: string; archived: boolean }> }> }>(
      api,
      `query { flow_group(where: { name: { _eq: "${name}" } }) { flows { id archived } } }`,
    );
    expect(group.flow_group[0]?.flows).toEqual([{ id: first, archived: false }]);

    const second = await registerFlow(api, projectId, pipelineFlow(name));
    expect(await flowVersion(second)).toBe(3);
  });
});
