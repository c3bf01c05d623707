import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  registerFlow,
} from "../helpers/orchestration.js";
import { EnumValue, parseGraphql, type Selection, withArgs } from "../helpers/prefect-graphql.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * The Prefect 1.4.1 CLI's `get` and `describe` commands (src/prefect/cli/get.py, describe.py at
 * tag 1.4.1), each sent over HTTP as the CLI composes it: the same argument dictionaries, with
 * `null` for every option left unset, `distinct_on`, `<relationship>_aggregate`, and lists read
 * without a limit (which expect every row).
 */
let runtime: LocalRuntime;
let api: Api;
let runA = "";
let runB = "";
const LINES = 2_000;

const E = (value: string) => new EnumValue(value);
const query = (selection: Selection) => parseGraphql({ query: selection });

beforeAll(async () => {
  // With events on, as `npm start` runs.
  runtime = await startTestRuntime("prefect-cli", { events: true });
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", runtime.bootstrap.workspace.id);
  const etl = await createProject(api, "etl");
  await createProject(api, "empty");
  await registerFlow(api, etl, pipelineFlow("alpha"), { set_schedule_active: false });
  const alpha2 = await registerFlow(api, etl, pipelineFlow("alpha", { extraTasks: 1 }), {
    set_schedule_active: false,
  });
  const beta = await registerFlow(api, etl, pipelineFlow("beta"), { set_schedule_active: false });
  runA = await createRun(api, { flow_id: alpha2, parameters: { n: 1 }, flow_run_name: "brave-ant" });
  runB = await createRun(api, { flow_id: beta, parameters: { n: 1 }, flow_run_name: "calm-bee" });
  await ok(
    api,
    `mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }`,
    {
      input: {
        states: [
          { flow_run_id: runB, version: 1, state: { type: "Running", message: "go", __version__: "1.4.1" } },
        ],
      },
    },
  );
  // More lines than a page of 1,000, in batches as the client's log handler sends them.
  const start = Date.parse("2026-12-01T00:00:00Z");
  for (let batch = 0; batch < LINES / 500; batch++) {
    await ok(api, "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }", {
      input: {
        logs: Array.from({ length: 500 }, (_, i) => {
          const n = batch * 500 + i;
          return {
            flow_run_id: runA,
            message: `line ${n}`,
            level: "INFO",
            name: "prefect.FlowRunner",
            timestamp: new Date(start + n).toISOString(),
          };
        }),
      },
    });
  }
  // Stored by the ingestion consumer shortly after they are acknowledged.
  await vi.waitFor(
    async () => {
      const data = await ok<{ flow_run_by_pk: { logs_aggregate: { aggregate: { count: number } } } }>(
        api,
        `query { flow_run_by_pk(id: "${runA}") { logs_aggregate { aggregate { count } } } }`,
      );
      expect(data.flow_run_by_pk.logs_aggregate.aggregate.count).toBe(LINES);
    },
    { timeout: 30_000, interval: 100 },
  );
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
});

/** `prefect get flows [--name] [--version] [--project] [--all-versions]` */
function getFlows(options: { name?: string; version?: number; project?: string; allVersions?: boolean }) {
  return query({
    [withArgs("flow", {
      where: {
        _and: {
          name: { _eq: options.name },
          version: { _eq: options.version },
          project: { name: { _eq: options.project } },
        },
      },
      order_by: { name: E("asc"), version: E("desc") },
      distinct_on: options.allVersions ? null : E("name"),
      limit: 10,
    })]: { name: true, version: true, created: true, id: true, project: { name: true } },
  });
}

describe("prefect get", () => {
  it("flows: the newest version of each flow by default, every version with --all-versions, filters by name and version", async () => {
    type Flows = { flow: Array<{ name: string; version: number; project: { name: string } }> };
    const latest = await ok<Flows>(api, getFlows({}));
    expect(latest.flow.map((f) => [f.name, f.version, f.project.name])).toEqual([
      ["alpha", 2, "etl"],
      ["beta", 1, "etl"],
    ]);
    const all = await ok<Flows>(api, getFlows({ allVersions: true }));
    expect(all.flow.map((f) => [f.name, f.version])).toEqual([
      ["alpha", 2],
      ["alpha", 1],
      ["beta", 1],
    ]);
    const one = await ok<Flows>(api, getFlows({ name: "alpha", version: 1, project: "etl" }));
    expect(one.flow.map((f) => [f.name, f.version])).toEqual([["alpha", 1]]);
    expect((await ok<Flows>(api, getFlows({ project: "empty" }))).flow).toEqual([]);
  });

  it("projects: each with its count of distinct flow names", async () => {
    const text = query({
      [withArgs("project", { where: { _and: { name: { _eq: null } } }, order_by: { name: E("asc") } })]: {
        name: true,
        created: true,
        description: true,
        [withArgs("flows_aggregate", { distinct_on: E("name") })]: { aggregate: E("count") },
      },
    });
    const data = await ok<{
      project: Array<{ name: string; flows_aggregate: { aggregate: { count: number } } }>;
    }>(api, text);
    expect(data.project.map((p) => [p.name, p.flows_aggregate.aggregate.count])).toEqual([
      ["empty", 0],
      ["etl", 2],
    ]);
  });

  it("tasks: without a selective filter, newest first, with each task's flow", async () => {
    const text = query({
      [withArgs("task", {
        where: {
          _and: {
            name: { _eq: null },
            flow: { name: { _eq: null }, version: { _eq: null }, project: { name: { _eq: null } } },
          },
        },
        limit: 10,
        order_by: { created: E("desc") },
      })]: { name: true, created: true, flow: { name: true, version: true }, mapped: true, type: true },
    });
    const data = await ok<{ task: Array<{ name: string; created: string; flow: { name: string } }> }>(
      api,
      text,
    );
    expect(data.task).toHaveLength(10);
    const created = data.task.map((t) => t.created);
    expect([...created].sort().reverse()).toEqual(created);
    // The newest flow (beta, registered last) comes first: its 5 tasks, then alpha v2's.
    expect(data.task.slice(0, 5).every((t) => t.flow.name === "beta")).toBe(true);
    const one = query({
      [withArgs("task", {
        where: {
          _and: {
            name: { _eq: "extra" },
            flow: { name: { _eq: "alpha" }, version: { _eq: null }, project: { name: { _eq: null } } },
          },
        },
        limit: 10,
        order_by: { created: E("desc") },
      })]: { name: true, flow: { name: true, version: true } },
    });
    expect((await ok<{ task: unknown[] }>(api, one)).task).toEqual([
      { name: "extra", flow: { name: "alpha", version: 2 } },
    ]);
  });

  it("flow-runs: every run newest first, and only started ones with --started", async () => {
    const select: Selection = {
      flow: { name: true },
      id: true,
      created: true,
      state: true,
      name: true,
      start_time: true,
    };
    const all = query({
      [withArgs("flow_run", {
        where: { flow: { _and: { name: { _eq: null }, project: { name: { _eq: null } } } } },
        limit: 10,
        order_by: { created: E("desc") },
      })]: select,
    });
    const runs = await ok<{ flow_run: Array<{ name: string; flow: { name: string } }> }>(api, all);
    expect(runs.flow_run.map((r) => [r.name, r.flow.name])).toEqual([
      ["calm-bee", "beta"],
      ["brave-ant", "alpha"],
    ]);
    const started = query({
      [withArgs("flow_run", {
        where: {
          _and: {
            flow: { _and: { name: { _eq: null }, project: { name: { _eq: null } } } },
            start_time: { _is_null: false },
          },
        },
        limit: 10,
        order_by: { start_time: E("desc") },
      })]: select,
    });
    expect(
      (await ok<{ flow_run: Array<{ name: string }> }>(api, started)).flow_run.map((r) => r.name),
    ).toEqual(["calm-bee"]);
  });

  it("logs --name: every line of the run (more than 1,000), in order", async () => {
    const text = query({
      [withArgs("flow_run", {
        where: { name: { _eq: "brave-ant" }, id: { _eq: null } },
        order_by: { [E("start_time").value]: E("desc") },
      })]: {
        [withArgs("logs", { order_by: { timestamp: E("asc") } })]: {
          timestamp: true,
          message: true,
          level: true,
        },
        start_time: true,
      },
    });
    const data = await ok<{ flow_run: Array<{ logs: Array<{ message: string }> }> }>(api, text);
    expect(data.flow_run).toHaveLength(1);
    const messages = data.flow_run[0]?.logs.map((l) => l.message) ?? [];
    expect(messages).toHaveLength(LINES);
    expect(messages).toEqual(Array.from({ length: LINES }, (_, n) => `line ${n}`));
  });
});

describe("prefect describe", () => {
  it("flows and tasks: the newest version of the named flow, with every field the CLI reads", async () => {
    const where = {
      _and: { name: { _eq: "alpha" }, version: { _eq: null }, project: { name: { _eq: null } } },
    };
    const args = { where, order_by: { name: E("asc"), version: E("desc") }, distinct_on: E("name") };
    const flows = await ok<{ flow: Array<{ name: string; version: number; archived: boolean }> }>(
      api,
      query({
        [withArgs("flow", args)]: {
          name: true,
          version: true,
          project: { name: true },
          created: true,
          description: true,
          parameters: true,
          archived: true,
          storage: true,
          environment: true,
        },
      }),
    );
    expect(flows.flow.map((f) => [f.name, f.version, f.archived])).toEqual([["alpha", 2, false]]);
    const tasks = await ok<{ flow: Array<{ tasks: Array<{ slug: string; description: string | null }> }> }>(
      api,
      query({
        [withArgs("flow", args)]: {
          tasks: {
            name: true,
            created: true,
            slug: true,
            description: true,
            type: true,
            max_retries: true,
            retry_delay: true,
            mapped: true,
          },
        },
      }),
    );
    expect(tasks.flow[0]?.tasks.map((t) => t.slug).sort()).toEqual(
      ["extra-1", "extract-1", "load-1", "n", "square-1", "transform-1"].sort(),
    );
    expect(tasks.flow[0]?.tasks.every((t) => t.description === null)).toBe(true);
  });

  it("flow-runs: the named run, whatever flow when --flow-name is unset", async () => {
    const data = await ok<{ flow_run: Array<{ name: string; flow: { name: string } }> }>(
      api,
      query({
        [withArgs("flow_run", {
          where: { _and: { name: { _eq: "calm-bee" }, flow: { name: { _eq: null } } } },
        })]: {
          name: true,
          flow: { name: true },
          created: true,
          parameters: true,
          auto_scheduled: true,
          scheduled_start_time: true,
          start_time: true,
          end_time: true,
          serialized_state: true,
        },
      }),
    );
    expect(data.flow_run.map((r) => [r.name, r.flow.name])).toEqual([["calm-bee", "beta"]]);
  });
});

describe("log timestamps", () => {
  it("keeps microseconds: lines in one millisecond read back in order, and a bound after one skips none", async () => {
    const at = (us: string) => `2026-12-02T10:00:00.123${us}+00:00`;
    // Sent out of order, as several handlers' batches may arrive.
    const lines = ["003", "001", "002"].map((us) => ({
      flow_run_id: runB,
      message: `us ${us}`,
      level: "INFO",
      timestamp: at(us),
    }));
    await ok(api, "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }", {
      input: { logs: lines },
    });
    type Logs = { flow_run_by_pk: { logs: Array<{ message: string; timestamp: string }> } };
    const read = (where: string) =>
      ok<Logs>(
        api,
        `query { flow_run_by_pk(id: "${runB}") { logs(where: ${where}, order_by: { timestamp: asc }) { message timestamp } } }`,
      );
    await vi.waitFor(async () => expect((await read("{}")).flow_run_by_pk.logs).toHaveLength(3), {
      timeout: 15_000,
      interval: 100,
    });
    expect((await read("{}")).flow_run_by_pk.logs).toEqual([
      { message: "us 001", timestamp: "2026-12-02T10:00:00.123001Z" },
      { message: "us 002", timestamp: "2026-12-02T10:00:00.123002Z" },
      { message: "us 003", timestamp: "2026-12-02T10:00:00.123003Z" },
    ]);
    // What a watcher asks after seeing the line at .123001: the two after it, in the same millisecond.
    const after = await read(`{ timestamp: { _gt: "${at("001")}" } }`);
    expect(after.flow_run_by_pk.logs.map((l) => l.message)).toEqual(["us 002", "us 003"]);
  });
});

describe("Hasura's read language beyond the CLI", () => {
  it("aggregates count, max, min, sum and avg over the selected rows", async () => {
    const data = await ok<{
      flow_aggregate: {
        aggregate: {
          count: number;
          names: number;
          max: { version: number; name: string };
          min: { version: number };
          sum: { version: number };
          avg: { version: number };
        };
        nodes: Array<{ name: string }>;
      };
    }>(
      api,
      `query { flow_aggregate(order_by: { name: asc }) { aggregate { count names: count(columns: [name], distinct: true) max { version name } min { version } sum { version } avg { version } } nodes { name } } }`,
    );
    expect(data.flow_aggregate.aggregate).toEqual({
      count: 3,
      names: 2,
      max: { version: 2, name: "beta" },
      min: { version: 1 },
      sum: { version: 4 },
      avg: { version: 4 / 3 },
    });
    expect(data.flow_aggregate.nodes.map((n) => n.name)).toEqual(["alpha", "alpha", "beta"]);
  });

  it("refuses distinct_on columns that do not lead order_by, as Postgres does", async () => {
    const error = await fails(api, `query { flow(distinct_on: [name], order_by: { version: desc }) { id } }`);
    expect(error.code).toBe("BAD_USER_INPUT");
    expect(error.message).toMatch(/"distinct_on" columns must match initial "order_by" columns/);
  });

  it("treats a null operand as no filter, and null in _in or _is_null too", async () => {
    const data = await ok<{ a: unknown[]; b: unknown[]; c: unknown[] }>(
      api,
      `query { a: flow_run(where: { state: { _eq: null, _neq: null } }) { id } b: flow_run(where: { name: { _in: null } }) { id } c: flow_run(where: { end_time: { _is_null: null } }) { id } }`,
    );
    expect(data.a).toHaveLength(2);
    expect(data.b).toHaveLength(2);
    expect(data.c).toHaveLength(2);
  });
});
