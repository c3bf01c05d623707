import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * A batch of `set_flow_run_states` / `set_task_run_states` is all or nothing (docs/all-or-nothing.md):
 * one bad entry (unknown, another tenant's, too large, unstorable, stale) answers an error and
 * leaves every run of the batch exactly as it was: state, version and history.
 */
let runtime: LocalRuntime;
let api: Api;
let intruder: Api;
let flowId: string;
let foreignRunId: string;
let foreignTaskRunId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("atomic-states");
  const tenant = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenant);
  const other = await Workspace.create({ name: "Other" });
  const key = (await asTenant(other.id, () => ApiKey.create({ name: "other" }))).secret;
  intruder = prefectClient(runtime, key, other.id);

  flowId = await registerFlow(api, await createProject(api, "atomic"), pipelineFlow("atomic-flow"));
  const foreignFlow = await registerFlow(
    intruder,
    await createProject(intruder, "theirs"),
    pipelineFlow("their-flow"),
  );
  foreignRunId = await createRun(intruder, { flow_id: foreignFlow, parameters: { n: 1 } });
  foreignTaskRunId = (await taskRunIds(intruder, foreignRunId))[0] ?? "";
});

afterAll(async () => {
  await runtime?.stop();
});

async function taskRunIds(client: Api, runId: string): Promise<string[]> {
  const read = await ok<{ flow_run_by_pk: { task_runs: Array<{ id: string; task: { slug: string } }> } }>(
    client,
    Q.runnerRead(runId),
  );
  return read.flow_run_by_pk.task_runs
    .sort((a, b) => a.task.slug.localeCompare(b.task.slug))
    .map((tr) => tr.id);
}

/** A flow run as a reader sees it: state, version, serialized state and the whole history. */
async function flowRun(id: string, client: Api = api) {
  return (
    await ok<{ flow_run_by_pk: Record<string, unknown> }>(
      client,
      `query { flow_run_by_pk(id: "${id}") { state version serialized_state heartbeat
        states(order_by: { version: asc }) { version state message } } }`,
    )
  ).flow_run_by_pk;
}

async function taskRun(id: string, client: Api = api) {
  return (
    await ok<{ task_run_by_pk: Record<string, unknown> }>(
      client,
      `query { task_run_by_pk(id: "${id}") { state version serialized_state
        states(order_by: { version: asc }) { version state message } } }`,
    )
  ).task_run_by_pk;
}

async function newRun(): Promise<string> {
  return createRun(api, { flow_id: flowId, parameters: { n: 1 } });
}

async function setFlowRunState(id: string, version: number, type: string) {
  await ok(api, Q.flowRunStates, { input: { states: [{ flow_run_id: id, version, state: state(type) }] } });
}

describe("set_flow_run_states with several entries", () => {
  it("applies every entry when all are valid: each run one version further, one history entry more", async () => {
    const [a, b] = [await newRun(), await newRun()];
    const data = await ok<{ set_flow_run_states: { states: Array<{ id: string; status: string }> } }>(
      api,
      Q.flowRunStates,
      {
        input: {
          states: [
            { flow_run_id: a, version: 1, state: state("Submitted") },
            { flow_run_id: b, state: state("Submitted") },
          ],
        },
      },
    );
    expect(data.set_flow_run_states.states).toEqual([
      { id: a, status: "SUCCESS", message: null },
      { id: b, status: "SUCCESS", message: null },
    ]);
    for (const id of [a, b]) {
      const run = await flowRun(id);
      expect(run.state).toBe("Submitted");
      expect(run.version).toBe(2);
      expect((run.states as Array<{ state: string }>).map((s) => s.state)).toEqual([
        "Scheduled",
        "Submitted",
      ]);
    }
  });

  it.each([
    ["an unknown run", () => randomUUID(), "NOT_FOUND"],
    ["another workspace's run", () => foreignRunId, "NOT_FOUND"],
  ])("refuses a batch naming %s and changes none of its runs", async (_, badId, code) => {
    const [a, b] = [await newRun(), await newRun()];
    await setFlowRunState(b, 1, "Submitted");
    const before = [await flowRun(a), await flowRun(b)];
    const foreignBefore = await flowRun(foreignRunId, intruder);
    const failure = await fails(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: a, version: 1, state: state("Submitted") },
          { flow_run_id: b, version: 2, state: state("Running") },
          { flow_run_id: badId(), state: state("Running") },
        ],
      },
    });
    expect(failure.code).toBe(code);
    expect([await flowRun(a), await flowRun(b)]).toEqual(before);
    expect(await flowRun(foreignRunId, intruder)).toEqual(foreignBefore);
  });

  it("refuses a batch with one stale version (VERSION_LOCKING_ERROR) and changes none of its runs", async () => {
    const [a, b, c] = [await newRun(), await newRun(), await newRun()];
    await setFlowRunState(c, 1, "Submitted");
    const before = [await flowRun(a), await flowRun(b), await flowRun(c)];
    const failure = await fails(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: a, version: 1, state: state("Submitted") },
          { flow_run_id: b, version: 1, state: state("Submitted") },
          { flow_run_id: c, version: 1, state: state("Running") },
        ],
      },
    });
    expect(failure.code).toBe("VERSION_LOCKING_ERROR");
    expect(failure.message).toContain(c);
    expect([await flowRun(a), await flowRun(b), await flowRun(c)]).toEqual(before);
  });

  it.each([
    ["a state over the size limit", { ...state("Failed"), message: "m".repeat(70_000) }],
    [
      "a state DynamoDB cannot store (a number beyond its range)",
      { ...state("Failed"), context: { x: 1e300 } },
    ],
  ])("refuses a batch with %s and changes none of its runs", async (_, badState) => {
    const [a, b] = [await newRun(), await newRun()];
    const before = [await flowRun(a), await flowRun(b)];
    const failure = await fails(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: a, version: 1, state: state("Submitted") },
          { flow_run_id: b, version: 1, state: badState },
        ],
      },
    });
    expect(failure.code).toBeDefined();
    expect([await flowRun(a), await flowRun(b)]).toEqual(before);
  });

  it("refuses a batch whose states together exceed what one transaction holds (PAYLOAD_TOO_LARGE)", async () => {
    const runs = await Promise.all(Array.from({ length: 30 }, () => newRun()));
    const before = await Promise.all(runs.map((id) => flowRun(id)));
    const big = { ...state("Submitted"), message: "m".repeat(60_000) };
    const failure = await fails(api, Q.flowRunStates, {
      input: { states: runs.map((id) => ({ flow_run_id: id, version: 1, state: big })) },
    });
    expect(failure.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await Promise.all(runs.map((id) => flowRun(id)))).toEqual(before);
  });

  it("applies concurrent batches over the same runs each whole, one after the other", async () => {
    const [a, b] = [await newRun(), await newRun()];
    const batch = (type: string) =>
      ok(api, Q.flowRunStates, {
        input: { states: [a, b].map((id) => ({ flow_run_id: id, state: state(type) })) },
      });
    await Promise.all([batch("Submitted"), batch("Pending"), batch("Submitted")]);
    for (const id of [a, b]) {
      const run = await flowRun(id);
      expect(run.version).toBe(4);
      expect((run.states as Array<{ version: number }>).map((s) => s.version)).toEqual([1, 2, 3, 4]);
    }
  });

  it("moves a full inline history to its page and keeps every entry", async () => {
    const [a, b] = [await newRun(), await newRun()];
    const long = (type: string, i: number) => ({ ...state(type), message: `${i} ${"h".repeat(1500)}` });
    for (let i = 0; i < 4; i++)
      await ok(api, Q.flowRunStates, {
        input: {
          states: [{ flow_run_id: a, version: i + 1, state: long(i % 2 ? "Pending" : "Submitted", i) }],
        },
      });
    await ok(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: a, version: 5, state: long("Submitted", 4) },
          { flow_run_id: b, version: 1, state: long("Submitted", 0) },
        ],
      },
    });
    const run = await flowRun(a);
    expect(run.version).toBe(6);
    expect((run.states as Array<{ version: number }>).map((s) => s.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((run.states as Array<{ message: string }>)[5]?.message.startsWith("4 ")).toBe(true);
  });

  it("refuses a batch naming one run twice (BAD_USER_INPUT) and changes nothing", async () => {
    const a = await newRun();
    const before = await flowRun(a);
    const failure = await fails(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: a, version: 1, state: state("Submitted") },
          { flow_run_id: a, version: 2, state: state("Running") },
        ],
      },
    });
    expect(failure.code).toBe("BAD_USER_INPUT");
    expect(await flowRun(a)).toEqual(before);
  });
});

describe("set_task_run_states with several entries", () => {
  /** A Running flow run and its task runs (sorted by task slug). */
  async function runningRun(): Promise<{ runId: string; taskRuns: string[] }> {
    const runId = await newRun();
    await setFlowRunState(runId, 1, "Submitted");
    await setFlowRunState(runId, 2, "Running");
    return { runId, taskRuns: await taskRunIds(api, runId) };
  }

  it("applies every entry when all are valid", async () => {
    const { taskRuns } = await runningRun();
    const [x, y] = taskRuns as [string, string];
    await ok(api, Q.taskRunStates, {
      input: {
        states: [
          { task_run_id: x, version: 1, state: state("Running") },
          { task_run_id: y, state: state("Success") },
        ],
      },
    });
    expect(await taskRun(x)).toMatchObject({ state: "Running", version: 2 });
    expect(await taskRun(y)).toMatchObject({ state: "Success", version: 2 });
    expect(((await taskRun(y)).states as Array<{ state: string }>).map((s) => s.state)).toEqual([
      "Pending",
      "Success",
    ]);
  });

  it.each([
    ["an unknown task run", () => randomUUID(), "NOT_FOUND"],
    ["another workspace's task run", () => foreignTaskRunId, "NOT_FOUND"],
  ])("refuses a batch naming %s and changes none of its task runs", async (_, badId, code) => {
    const { taskRuns } = await runningRun();
    const [x, y] = taskRuns as [string, string];
    const before = [await taskRun(x), await taskRun(y)];
    const foreignBefore = await taskRun(foreignTaskRunId, intruder);
    const failure = await fails(api, Q.taskRunStates, {
      input: {
        states: [
          { task_run_id: x, version: 1, state: state("Running") },
          { task_run_id: y, version: 1, state: state("Success") },
          { task_run_id: badId(), state: state("Success") },
        ],
      },
    });
    expect(failure.code).toBe(code);
    expect([await taskRun(x), await taskRun(y)]).toEqual(before);
    expect(await taskRun(foreignTaskRunId, intruder)).toEqual(foreignBefore);
  });

  it("refuses a batch with one stale version and changes none of its task runs", async () => {
    const { taskRuns } = await runningRun();
    const [x, y] = taskRuns as [string, string];
    await ok(api, Q.taskRunStates, {
      input: { states: [{ task_run_id: y, version: 1, state: state("Running") }] },
    });
    const before = [await taskRun(x), await taskRun(y)];
    const failure = await fails(api, Q.taskRunStates, {
      input: {
        states: [
          { task_run_id: x, version: 1, state: state("Running") },
          { task_run_id: y, version: 1, state: state("Success") },
        ],
      },
    });
    expect(failure.code).toBe("VERSION_LOCKING_ERROR");
    expect([await taskRun(x), await taskRun(y)]).toEqual(before);
  });

  it("refuses a batch with an unstorable state and changes none of its task runs", async () => {
    const { taskRuns } = await runningRun();
    const [x, y] = taskRuns as [string, string];
    const before = [await taskRun(x), await taskRun(y)];
    const failure = await fails(api, Q.taskRunStates, {
      input: {
        states: [
          { task_run_id: x, version: 1, state: state("Running") },
          { task_run_id: y, version: 1, state: { ...state("Success"), context: { x: 1e300 } } },
        ],
      },
    });
    expect(failure.code).toBeDefined();
    expect([await taskRun(x), await taskRun(y)]).toEqual(before);
  });

  it("refuses Running for a task run whose flow run is not Running, changing none of the batch", async () => {
    const { taskRuns } = await runningRun();
    const idle = (await taskRunIds(api, await newRun()))[0] ?? "";
    const x = taskRuns[0] ?? "";
    const before = [await taskRun(x), await taskRun(idle)];
    const failure = await fails(api, Q.taskRunStates, {
      input: {
        states: [
          { task_run_id: x, version: 1, state: state("Success") },
          { task_run_id: idle, version: 1, state: state("Running") },
        ],
      },
    });
    expect(failure.code).toBe("BAD_USER_INPUT");
    expect([await taskRun(x), await taskRun(idle)]).toEqual(before);
  });
});
