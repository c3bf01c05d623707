import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAgentSilence } from "#core/agent/silence.js";
import type { DroverEvent } from "#core/events/types.js";
import { checkHealth } from "#core/schedule/health.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * The events on the bus (docs/events.md, "The events") as a real run makes them on the local
 * runtime: from the main table's stream through the events function to the in-process bus,
 * watched with the bus's `subscribe`. Each state change is one event, heartbeats none; the
 * scheduler's late mark and its silence check each one.
 */
let runtime: LocalRuntime;
let api: Api;
let flowId: string;
const seen: DroverEvent[] = [];

beforeAll(async () => {
  runtime = await startTestRuntime("events", { events: true });
  runtime.eventBus?.subscribe((event) => seen.push(event));
  api = client(runtime, runtime.bootstrap.secret ?? "");
  flowId = await registerFlow(api, await createProject(api, "events"), pipelineFlow("events"));
});
afterAll(async () => {
  await runtime?.stop();
});

/** Waits until the bus has carried an event that `match` accepts (bounded by the test's timeout). */
async function until<T extends DroverEvent>(match: (e: DroverEvent) => e is T): Promise<T[]>;
async function until(match: (e: DroverEvent) => boolean): Promise<DroverEvent[]>;
async function until(match: (e: DroverEvent) => boolean) {
  for (;;) {
    const found = seen.filter(match);
    if (found.length > 0) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const later = (ms: number) => new Date(Date.now() + ms);

describe("events", () => {
  it("a flow run's life is one FlowRunStateChange per state, in order, and its heartbeats are none", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    for (const type of ["Submitted", "Running"]) {
      await ok(api, Q.flowRunStates, {
        input: { states: [{ flow_run_id: runId, version: null, state: state(type) }] },
      });
    }
    await ok(api, Q.heartbeat(runId));
    await ok(api, Q.heartbeat(runId));
    await ok(api, Q.flowRunStates, {
      input: { states: [{ flow_run_id: runId, version: null, state: state("Success") }] },
    });
    await until(
      (e) => e.type === "FlowRunStateChange" && e.flow_run.id === runId && e.state.state === "Success",
    );
    const mine = seen.filter((e) => e.type === "FlowRunStateChange" && e.flow_run.id === runId);
    expect(
      mine.map((e) => (e.type === "FlowRunStateChange" ? [e.state.previous, e.state.state] : [])),
    ).toEqual([
      [null, "Scheduled"],
      ["Scheduled", "Submitted"],
      ["Submitted", "Running"],
      ["Running", "Success"],
    ]);
    expect(new Set(mine.map((e) => e.id)).size).toBe(4);
    expect(mine.every((e) => e.tenant_id === runtime.bootstrap.workspace.id)).toBe(true);
  });

  it("the late check's mark is one FlowRunLate with its reason", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await checkHealth({ now: later(60_000) });
    const [late] = await until((e) => e.type === "FlowRunLate" && e.flow_run.id === runId);
    expect(late).toMatchObject({ type: "FlowRunLate", late_reason: expect.stringMatching(/agent/) });
  });

  it("an agent that stops polling is one AgentSilent; it polls, stops again, and is a second", async () => {
    const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
      input: { type: "events-agent", name: "silent", labels: ["x"] },
    });
    const agentId = agent.register_agent.id;
    const poll = () =>
      ok(
        api,
        Q.queue,
        { input: { before: new Date().toISOString(), labels: ["x"] } },
        { "X-PREFECT-AGENT-ID": agentId },
      );
    await poll();
    expect((await checkAgentSilence({ now: later(60_000) })).silenced).toBe(0);
    const marked = await checkAgentSilence({ now: later(6 * 60_000) });
    expect(marked.silenced).toBeGreaterThanOrEqual(1);
    const [first] = await until((e) => e.type === "AgentSilent" && e.agent.id === agentId);
    expect(first).toMatchObject({ agent: { id: agentId, name: "silent", labels: ["x"] } });
    // Marked once: the agent is out of the watch until it polls again.
    await checkAgentSilence({ now: later(7 * 60_000) });
    await poll();
    const agents = await ok<{ agent: Array<{ id: string; silent_since: string | null }> }>(
      api,
      `{ agent(where: { id: { _eq: "${agentId}" } }) { id silent_since } }`,
    );
    expect(agents.agent[0]?.silent_since).toBeNull();
    await checkAgentSilence({ now: later(6 * 60_000) });
    await until((e) => e.type === "AgentSilent" && e.agent.id === agentId && e.id !== first?.id);
    expect(seen.filter((e) => e.type === "AgentSilent" && e.agent.id === agentId)).toHaveLength(2);
  });

  it("an agent that keeps polling is never silent: its watch entry is moved up to its last poll", async () => {
    const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
      input: { type: "events-agent", name: "busy", labels: ["y"] },
    });
    const agentId = agent.register_agent.id;
    const read = async () =>
      (
        await ok<{
          agent: Array<{ created: string; last_queried: string | null; silent_since: string | null }>;
        }>(api, `{ agent(where: { id: { _eq: "${agentId}" } }) { created last_queried silent_since } }`)
      ).agent[0];
    const created = Date.parse((await read())?.created ?? "");
    while (Date.now() <= created) await new Promise((resolve) => setTimeout(resolve, 1));
    await ok(
      api,
      Q.queue,
      { input: { before: new Date().toISOString(), labels: ["y"] } },
      { "X-PREFECT-AGENT-ID": agentId },
    );
    const polled = Date.parse((await read())?.last_queried ?? "");
    expect(polled).toBeGreaterThan(created);
    // A tick whose window starts at the poll: the entry (from the registration) is older, the poll is not.
    const livenessMs = 60_000;
    const tick = { now: new Date(polled + livenessMs), livenessMs };
    expect((await checkAgentSilence(tick)).refreshed).toBeGreaterThanOrEqual(1);
    expect((await read())?.silent_since).toBeNull();
    // Moved up to the poll, it is no candidate of the same tick again.
    const again = await checkAgentSilence(tick);
    expect(again.refreshed + again.silenced).toBe(0);
    expect((await read())?.silent_since).toBeNull();
  });
});
