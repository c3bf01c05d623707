import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  compress,
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
 * Every id-taking orchestration operation, called by another workspace with the first workspace's
 * ids, fails (NOT_FOUND, or nothing read) without effect; malformed input fails with a clear code.
 */
let runtime: LocalRuntime;
let owner: Api;
let intruder: Api;
let ownerTenant: string;
let intruderTenant: string;
const ids = {
  project: "",
  flow: "",
  flowGroup: "",
  versionGroup: "",
  run: "",
  task: "",
  mappedTask: "",
  taskRun: "",
  agent: "",
};

/** Everything of the owner's that an intruder's call could change, as the owner reads it. */
async function ownerSnapshot() {
  return ok(
    owner,
    `query {
      project(where: { id: { _eq: "${ids.project}" } }) { id name }
      flow_by_pk(id: "${ids.flow}") { id name version archived is_schedule_active description tasks { id slug } edges }
      flow_group_by_pk(id: "${ids.flowGroup}") { labels default_parameters run_config description schedule }
      flow_run_by_pk(id: "${ids.run}") { id name labels state version heartbeat serialized_state
        states { version state } task_runs(order_by: { task_slug: asc }) { id name state version heartbeat map_index } }
      flow_run(where: { flow_id: { _eq: "${ids.flow}" } }) { id }
      agent(where: { id: { _eq: "${ids.agent}" } }) { id name labels last_queried }
    }`,
  );
}

beforeAll(async () => {
  runtime = await startTestRuntime("orch-isolation");
  ownerTenant = runtime.bootstrap.workspace.id;
  owner = prefectClient(runtime, runtime.bootstrap.secret ?? "", ownerTenant);
  const other = await Workspace.create({ name: "Intruder" });
  intruderTenant = other.id;
  const key = (await asTenant(other.id, () => ApiKey.create({ name: "intruder" }))).secret;
  intruder = prefectClient(runtime, key, intruderTenant);

  ids.project = await createProject(owner, "owned");
  ids.flow = await registerFlow(owner, ids.project, pipelineFlow("owned-flow", { labels: ["own"] }));
  const flow = await ok<{ flow_by_pk: { flow_group_id: string; version_group_id: string } }>(
    owner,
    `query { flow_by_pk(id: "${ids.flow}") { flow_group_id version_group_id } }`,
  );
  ids.flowGroup = flow.flow_by_pk.flow_group_id;
  ids.versionGroup = flow.flow_by_pk.version_group_id;
  ids.run = await createRun(owner, { flow_id: ids.flow, parameters: { n: 1 } });
  const read = await ok<{
    flow_run_by_pk: { task_runs: Array<{ id: string; task: { id: string; slug: string } }> };
  }>(owner, Q.runnerRead(ids.run));
  const runs = read.flow_run_by_pk.task_runs;
  ids.task = runs.find((tr) => tr.task.slug === "extract-1")?.task.id ?? "";
  ids.mappedTask = runs.find((tr) => tr.task.slug === "square-1")?.task.id ?? "";
  ids.taskRun = runs.find((tr) => tr.task.slug === "extract-1")?.id ?? "";
  const agent = await ok<{ register_agent: { id: string } }>(owner, Q.registerAgent, {
    input: { type: "LocalAgent", name: "owned-agent", labels: ["own"], tenant_id: ownerTenant },
  });
  ids.agent = agent.register_agent.id;
});

afterAll(async () => {
  await runtime?.stop();
});

const m = (name: string, inputType: string, selection = "success") =>
  `mutation($input: ${inputType}!) { ${name}(input: $input) { ${selection} } }`;

describe("another workspace's ids", () => {
  it("fail every orchestration mutation with NOT_FOUND (or UNAUTHENTICATED for a tenant id) and change nothing", async () => {
    const before = await ownerSnapshot();
    const flowJson = compress(pipelineFlow("owned-flow"));
    const cases: Array<[string, string, unknown, Record<string, string>?]> = [
      [
        "create_flow_from_compressed_string",
        m("create_flow_from_compressed_string", "create_flow_from_compressed_string_input", "id"),
        { input: { project_id: ids.project, serialized_flow: flowJson } },
      ],
      [
        "create_flow",
        m("create_flow", "create_flow_input", "id"),
        { input: { project_id: ids.project, serialized_flow: pipelineFlow("owned-flow") } },
      ],
      [
        "register_tasks",
        m("register_tasks", "register_tasks_input"),
        { input: { flow_id: ids.flow, serialized_tasks: [{ slug: "intruder-1" }] } },
      ],
      [
        "register_edges",
        m("register_edges", "register_edges_input"),
        {
          input: {
            flow_id: ids.flow,
            serialized_edges: [{ upstream_task: { slug: "n" }, downstream_task: { slug: "load-1" } }],
          },
        },
      ],
      [
        "set_schedule_active",
        m("set_schedule_active", "set_schedule_active_input"),
        { input: { flow_id: ids.flow } },
      ],
      [
        "set_schedule_inactive",
        m("set_schedule_inactive", "set_schedule_inactive_input"),
        { input: { flow_id: ids.flow } },
      ],
      ["archive_flow", m("archive_flow", "archive_flow_input"), { input: { flow_id: ids.flow } }],
      ["delete_flow", m("delete_flow", "delete_flow_input"), { input: { flow_id: ids.flow } }],
      [
        "set_flow_group_labels",
        m("set_flow_group_labels", "set_flow_group_labels_input"),
        { input: { flow_group_id: ids.flowGroup, labels: ["stolen"] } },
      ],
      [
        "set_flow_group_default_parameters",
        m("set_flow_group_default_parameters", "set_flow_group_default_parameters_input"),
        { input: { flow_group_id: ids.flowGroup, parameters: { n: 99 } } },
      ],
      [
        "set_flow_group_run_config",
        m("set_flow_group_run_config", "set_flow_group_run_config_input"),
        { input: { flow_group_id: ids.flowGroup, run_config: { type: "UniversalRun" } } },
      ],
      [
        "set_flow_group_description",
        m("set_flow_group_description", "set_flow_group_description_input"),
        { input: { flow_group_id: ids.flowGroup, description: "stolen" } },
      ],
      [
        "set_flow_group_schedule",
        m("set_flow_group_schedule", "set_flow_group_schedule_input"),
        { input: { flow_group_id: ids.flowGroup, schedule: { type: "Schedule", clocks: [] } } },
      ],
      [
        "create_flow_run by flow_id",
        m("create_flow_run", "create_flow_run_input", "id"),
        { input: { flow_id: ids.flow, parameters: { n: 1 } } },
      ],
      [
        "create_flow_run by version_group_id",
        m("create_flow_run", "create_flow_run_input", "id"),
        { input: { version_group_id: ids.versionGroup, parameters: { n: 1 } } },
      ],
      [
        "set_flow_run_name",
        m("set_flow_run_name", "set_flow_run_name_input"),
        { input: { flow_run_id: ids.run, name: "stolen" } },
      ],
      [
        "set_task_run_name",
        m("set_task_run_name", "set_task_run_name_input"),
        { input: { task_run_id: ids.taskRun, name: "stolen" } },
      ],
      [
        "set_flow_run_labels",
        m("set_flow_run_labels", "set_flow_run_labels_input"),
        { input: { flow_run_id: ids.run, labels: ["stolen"] } },
      ],
      ["delete_flow_run", m("delete_flow_run", "delete_flow_run_input"), { input: { flow_run_id: ids.run } }],
      ["cancel_flow_run", Q.cancel, { input: { flow_run_id: ids.run } }],
      [
        "set_flow_run_states with a version",
        Q.flowRunStates,
        { input: { states: [{ flow_run_id: ids.run, version: 1, state: state("Submitted") }] } },
      ],
      [
        "set_flow_run_states unconditionally",
        Q.flowRunStates,
        { input: { states: [{ flow_run_id: ids.run, version: null, state: state("Cancelled") }] } },
      ],
      [
        "set_task_run_states",
        Q.taskRunStates,
        { input: { states: [{ task_run_id: ids.taskRun, version: null, state: state("Success") }] } },
      ],
      ["get_or_create_task_run_info (-1)", Q.taskRunInfo(ids.run, ids.task, -1), {}],
      ["get_or_create_task_run_info (child)", Q.taskRunInfo(ids.run, ids.mappedTask, 0), {}],
      ["update_flow_run_heartbeat", Q.heartbeat(ids.run), {}],
      [
        "update_task_run_heartbeat",
        `mutation { update_task_run_heartbeat(input: { task_run_id: "${ids.taskRun}" }) { success } }`,
        {},
      ],
      ["delete_agent", m("delete_agent", "delete_agent_input"), { input: { agent_id: ids.agent } }],
      ["get_task_run_info", `query { get_task_run_info(task_run_id: "${ids.taskRun}") { id version } }`, {}],
      ["mapped_children", `query { mapped_children(task_run_id: "${ids.taskRun}") { state_counts } }`, {}],
      ["delete_project", m("delete_project", "delete_project_input"), { input: { project_id: ids.project } }],
    ];
    const outcomes: Array<[string, string | undefined]> = [];
    for (const [name, query, variables, headers] of cases) {
      const error = await fails(intruder, query, variables, headers);
      outcomes.push([name, error.code]);
    }
    expect(outcomes).toEqual(cases.map(([name]) => [name, "NOT_FOUND"]));

    const forbidden: Array<[string, unknown]> = [
      [Q.registerAgent, { input: { type: "LocalAgent", name: "x", labels: [], tenant_id: ownerTenant } }],
      [Q.queue, { input: { before: new Date().toISOString(), labels: ["own"], tenant_id: ownerTenant } }],
    ];
    for (const [query, variables] of forbidden)
      expect((await fails(intruder, query, variables)).code).toBe("UNAUTHENTICATED");

    // Polling with the owner's agent id touches nothing and returns none of the owner's runs.
    const polled = await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
      intruder,
      Q.queue,
      {
        input: {
          before: new Date(Date.now() + 10_000).toISOString(),
          labels: ["own"],
          tenant_id: intruderTenant,
        },
      },
      { "X-PREFECT-AGENT-ID": ids.agent },
    );
    expect(polled.get_runs_in_queue.flow_run_ids).toEqual([]);

    expect(await ownerSnapshot()).toEqual(before);
  });

  it("read as nothing through *_by_pk, where-by-id and relationship filters", async () => {
    const data = await ok<Record<string, unknown>>(
      intruder,
      `query {
        flow_by_pk(id: "${ids.flow}") { id }
        flow_group_by_pk(id: "${ids.flowGroup}") { id }
        flow_run_by_pk(id: "${ids.run}") { id }
        task_run_by_pk(id: "${ids.taskRun}") { id }
        task_by_pk(id: "${ids.task}") { id }
        project_by_pk(id: "${ids.project}") { id }
        agent_by_pk(id: "${ids.agent}") { id }
        project(where: { id: { _eq: "${ids.project}" } }) { id }
        flow(where: { id: { _in: ["${ids.flow}"] } }) { id }
        flows_of_group: flow(where: { flow_group_id: { _eq: "${ids.flowGroup}" } }) { id }
        flow_group(where: { id: { _eq: "${ids.flowGroup}" } }) { id }
        flow_run(where: { id: { _eq: "${ids.run}" } }) { id }
        runs_of_flow: flow_run(where: { flow_id: { _eq: "${ids.flow}" } }) { id }
        runs_of_group: flow_run(where: { flow_group_id: { _eq: "${ids.flowGroup}" } }) { id }
        runs_through_flow: flow_run(where: { flow: { id: { _eq: "${ids.flow}" } } }) { id }
        task_run(where: { flow_run_id: { _eq: "${ids.run}" } }) { id }
        task_run_by_id: task_run(where: { id: { _eq: "${ids.taskRun}" } }) { id }
        task(where: { flow_id: { _eq: "${ids.flow}" } }) { id }
        flow_run_state(where: { flow_run_id: { _eq: "${ids.run}" } }) { id }
        task_run_state(where: { task_run_id: { _eq: "${ids.taskRun}" } }) { id }
        agent(where: { id: { _eq: "${ids.agent}" } }) { id }
        tenant(where: { id: { _eq: "${ownerTenant}" } }) { id }
        tenant_by_pk(id: "${ownerTenant}") { id }
      }`,
    );
    expect(data).toEqual({
      flow_by_pk: null,
      flow_group_by_pk: null,
      flow_run_by_pk: null,
      task_run_by_pk: null,
      task_by_pk: null,
      project_by_pk: null,
      agent_by_pk: null,
      project: [],
      flow: [],
      flows_of_group: [],
      flow_group: [],
      flow_run: [],
      runs_of_flow: [],
      runs_of_group: [],
      runs_through_flow: [],
      task_run: [],
      task_run_by_id: [],
      task: [],
      flow_run_state: [],
      task_run_state: [],
      agent: [],
      tenant: [],
      tenant_by_pk: null,
    });
  });
});

describe("bad input", () => {
  const register = (serialized_flow: string) =>
    fails(owner, Q.registerFlow, { input: { project_id: ids.project, serialized_flow } });

  it.each([
    ["malformed base64", "this is not base64!", /not valid base64/],
    ["base64 that is not gzip", Buffer.from("plain text").toString("base64"), /not gzip-compressed/],
    ["gzip that is not JSON", gzipSync("{not json").toString("base64"), /does not decompress to JSON/],
    [
      "JSON that is not a flow",
      gzipSync(JSON.stringify({ hello: "world" })).toString("base64"),
      /not a Prefect flow: name/,
    ],
    [
      "a flow with an edge to an unknown task",
      compress({
        ...pipelineFlow("broken"),
        edges: [{ upstream_task: { slug: "n" }, downstream_task: { slug: "ghost" } }],
      }),
      /unknown task "ghost"/,
    ],
    [
      "a flow with two tasks of one slug",
      compress({ ...pipelineFlow("twice"), tasks: [{ slug: "a" }, { slug: "a" }], edges: [] }),
      /two tasks with slug "a"/,
    ],
  ])("refuses a flow given as %s with BAD_USER_INPUT", async (_, payload, message) => {
    const error = await register(payload);
    expect(error.code).toBe("BAD_USER_INPUT");
    expect(error.message).toMatch(message);
  });

  it("refuses unknown state types and malformed states on runs and task runs, leaving them unchanged", async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      [
        Q.flowRunStates,
        { input: { states: [{ flow_run_id: ids.run, version: 1, state: state("Exploded") }] } },
        /Unknown state type "Exploded"/,
      ],
      [
        Q.flowRunStates,
        { input: { states: [{ flow_run_id: ids.run, version: 1, state: { message: "no type" } }] } },
        /Invalid state: type/,
      ],
      [
        Q.flowRunStates,
        { input: { states: [{ flow_run_id: ids.run, version: 1, state: "Running" }] } },
        /Invalid state/,
      ],
      [
        Q.taskRunStates,
        { input: { states: [{ task_run_id: ids.taskRun, version: 1, state: state("Done") }] } },
        /Unknown state type "Done"/,
      ],
      [
        Q.taskRunStates,
        {
          input: {
            states: [
              {
                task_run_id: ids.taskRun,
                version: 1,
                state: state("Retrying", { start_time: "tomorrow-ish" }),
              },
            ],
          },
        },
        /Invalid state start_time "tomorrow-ish"/,
      ],
      [Q.flowRunStates, { input: { states: [] } }, /states must not be empty/],
    ];
    for (const [query, variables, message] of cases) {
      const error = await fails(owner, query, variables);
      expect(error.code).toBe("BAD_USER_INPUT");
      expect(error.message).toMatch(message);
    }
    const data = await ok<{
      flow_run_by_pk: { state: string; version: number };
      task_run_by_pk: { state: string; version: number };
    }>(
      owner,
      `query { flow_run_by_pk(id: "${ids.run}") { state version } task_run_by_pk(id: "${ids.taskRun}") { state version } }`,
    );
    expect(data).toEqual({
      flow_run_by_pk: { state: "Scheduled", version: 1 },
      task_run_by_pk: { state: "Pending", version: 1 },
    });
  });

  it("refuses bad timestamps", async () => {
    const scheduled = await fails(owner, Q.createRun, {
      input: { flow_id: ids.flow, parameters: { n: 1 }, scheduled_start_time: "next tuesday" },
    });
    expect(scheduled.code).toBe("BAD_USER_INPUT");
    expect(scheduled.message).toMatch(/timestamp/);
    const before = await fails(owner, Q.queue, { input: { before: "soon", labels: [] } });
    expect(before.code).toBe("BAD_USER_INPUT");
    const literal = await fails(owner, `query { flow_run(where: { created: { _gt: "yesterday" } }) { id } }`);
    expect(literal.code).toBe("BAD_USER_INPUT");
  });

  it("checks parameters against the flow's: required ones present, no unknown ones", async () => {
    const runsBefore = await ok<{ flow_run: unknown[] }>(
      owner,
      `query { flow_run(where: { flow_id: { _eq: "${ids.flow}" } }) { id } }`,
    );
    const missing = await fails(owner, Q.createRun, { input: { flow_id: ids.flow, parameters: {} } });
    expect(missing).toMatchObject({
      code: "BAD_USER_INPUT",
      message: "Required parameters were not supplied: n",
    });
    const extra = await fails(owner, Q.createRun, {
      input: { flow_id: ids.flow, parameters: { n: 1, m: 2 } },
    });
    expect(extra).toMatchObject({ code: "BAD_USER_INPUT", message: "Extra parameters were supplied: m" });
    const neither = await fails(owner, Q.createRun, { input: { parameters: { n: 1 } } });
    expect(neither).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(neither.message).toMatch(/flow_id or a version_group_id/);
    const notObject = await fails(owner, Q.createRun, { input: { flow_id: ids.flow, parameters: [1, 2] } });
    expect(notObject.code).toBe("BAD_USER_INPUT");
    const runsAfter = await ok<{ flow_run: unknown[] }>(
      owner,
      `query { flow_run(where: { flow_id: { _eq: "${ids.flow}" } }) { id } }`,
    );
    expect(runsAfter.flow_run).toHaveLength(runsBefore.flow_run.length);
  });

  it("refuses ids that are not UUIDs with BAD_USER_INPUT and unknown ids with NOT_FOUND", async () => {
    expect((await fails(owner, `query { flow_run_by_pk(id: "run-1") { id } }`)).code).toBe("BAD_USER_INPUT");
    expect((await fails(owner, Q.cancel, { input: { flow_run_id: "nope" } })).code).toBe("BAD_USER_INPUT");
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect((await fails(owner, Q.cancel, { input: { flow_run_id: unknown } })).code).toBe("NOT_FOUND");
    expect((await fails(owner, Q.taskRunInfo(unknown, ids.task, 0))).code).toBe("NOT_FOUND");
    expect((await fails(owner, Q.taskRunInfo(ids.run, unknown, 0))).code).toBe("NOT_FOUND");
  });
});
