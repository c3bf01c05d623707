import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { eventsOfRecord } from "#core/events/changes.js";
import { signature } from "#core/hook/deliver.js";
import { checkTarget, isPrivateAddress, parseTargetUrl } from "#core/hook/target.js";

/** How a main-table change becomes events (core/src/events/changes.ts), and the hook target rules. */
const T = "11111111-1111-4111-8111-111111111111";
const run = (over: Record<string, unknown> = {}) => ({
  pk: `${T}#flow-run#r1`,
  sk: "flow-run",
  entity: "flow-run",
  id: "22222222-2222-4222-8222-222222222222",
  tenant_id: T,
  flow_id: "33333333-3333-4333-8333-333333333333",
  flow_group_id: "44444444-4444-4444-8444-444444444444",
  project_id: "55555555-5555-4555-8555-555555555555",
  name: "brave-fox",
  labels: ["a"],
  version: 2,
  state: "Running",
  state_message: "go",
  state_timestamp: "2026-12-07T10:00:00.000Z",
  serialized_state: { type: "Running", message: "go", context: {} },
  scheduled_start_time: "2026-12-07T09:59:00.000Z",
  heartbeat: null,
  settings: {},
  ...over,
});

function record(eventName: "INSERT" | "MODIFY" | "REMOVE", next?: object, old?: object): DynamoDBRecord {
  return {
    eventID: "e1",
    eventName,
    dynamodb: {
      ...(next ? { NewImage: marshall(next, { removeUndefinedValues: true }) as never } : {}),
      ...(old ? { OldImage: marshall(old, { removeUndefinedValues: true }) as never } : {}),
      SequenceNumber: "1",
    },
  };
}

describe("events of a main-table change", () => {
  it("a flow run's state change is one FlowRunStateChange with the old and new state", () => {
    const before = run({ version: 1, state: "Submitted" });
    const after = run({ version: 2, state: "Running" });
    const [event, ...rest] = eventsOfRecord(record("MODIFY", after, before));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: "FlowRunStateChange",
      tenant_id: T,
      timestamp: "2026-12-07T10:00:00.000Z",
      flow_run: { id: after.id, name: "brave-fox", flow_group_id: after.flow_group_id, labels: ["a"] },
      state: { previous: "Submitted", state: "Running", version: 2, message: "go" },
    });
    // The same change read again gives the same event id; another change another one.
    expect(eventsOfRecord(record("MODIFY", after, before))[0]?.id).toBe(event?.id);
    const later = run({ version: 3, state: "Failed", state_timestamp: "2026-12-07T10:01:00.000Z" });
    expect(eventsOfRecord(record("MODIFY", later, after))[0]?.id).not.toBe(event?.id);
  });

  it("a created run is a change from no state; heartbeats, renames and removals are none", () => {
    const created = eventsOfRecord(record("INSERT", run({ state: "Scheduled", version: 1 })));
    expect(
      created.map((e) =>
        e.type === "FlowRunStateChange" ? [e.type, e.state.previous, e.state.state] : [e.type],
      ),
    ).toEqual([["FlowRunStateChange", null, "Scheduled"]]);
    expect(eventsOfRecord(record("MODIFY", run({ heartbeat: "2026-12-07T10:00:30Z" }), run()))).toEqual([]);
    expect(eventsOfRecord(record("MODIFY", run({ name: "other" }), run()))).toEqual([]);
    expect(eventsOfRecord(record("REMOVE", undefined, run()))).toEqual([]);
    expect(
      eventsOfRecord(record("MODIFY", { pk: "x", sk: "y", entity: "agent" }, { pk: "x", sk: "y" })),
    ).toEqual([]);
  });

  it("the late check's mark is one FlowRunLate with its reason, once", () => {
    const before = run({ state: "Scheduled", version: 1, is_late: null });
    const after = run({
      state: "Scheduled",
      version: 1,
      is_late: true,
      late_reason: "No agent is registered.",
    });
    const events = eventsOfRecord(record("MODIFY", after, before));
    expect(events.map((e) => e.type)).toEqual(["FlowRunLate"]);
    expect(events[0]).toMatchObject({ late_reason: "No agent is registered.", flow_run: { id: after.id } });
    expect(eventsOfRecord(record("MODIFY", after, after))).toEqual([]);
  });

  it("a task run's state change is a TaskRunStateChange", () => {
    const task = (state: string, version: number) => ({
      pk: `${T}#task-run#t1`,
      sk: "task-run",
      entity: "task-run",
      id: "66666666-6666-4666-8666-666666666666",
      tenant_id: T,
      flow_run_id: "22222222-2222-4222-8222-222222222222",
      task_id: "77777777-7777-4777-8777-777777777777",
      task_slug: "extract-1",
      map_index: 3,
      version,
      state,
      state_timestamp: `2026-12-07T10:00:0${version}.000Z`,
    });
    const [event] = eventsOfRecord(record("MODIFY", task("Success", 2), task("Running", 1)));
    expect(event).toMatchObject({
      type: "TaskRunStateChange",
      task_run: { task_slug: "extract-1", map_index: 3, flow_run_id: "22222222-2222-4222-8222-222222222222" },
      state: { previous: "Running", state: "Success", version: 2 },
    });
  });
});

describe("events of an agent", () => {
  const agent = (over: Record<string, unknown> = {}) => ({
    pk: `${T}#agent#a1`,
    sk: "agent",
    entity: "agent",
    id: "88888888-8888-4888-8888-888888888888",
    tenant_id: T,
    name: "k8s",
    type: "KubernetesAgent",
    labels: ["prod"],
    last_queried: "2026-12-07T10:00:00.000Z",
    updated: "2026-12-07T09:00:00.000Z",
    ...over,
  });

  it("the silence check's mark is one AgentSilent; polls and the mark's removal are none", () => {
    const silent = agent({ silent_since: "2026-12-07T10:00:00.000Z" });
    const [event, ...rest] = eventsOfRecord(record("MODIFY", silent, agent()));
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      type: "AgentSilent",
      tenant_id: T,
      silent_since: "2026-12-07T10:00:00.000Z",
      agent: { id: silent.id, name: "k8s", type: "KubernetesAgent", labels: ["prod"] },
    });
    expect(eventsOfRecord(record("MODIFY", silent, agent()))[0]?.id).toBe(event?.id);
    expect(
      eventsOfRecord(record("MODIFY", agent({ last_queried: "2026-12-07T10:00:10Z" }), agent())),
    ).toEqual([]);
    expect(eventsOfRecord(record("MODIFY", agent(), silent))).toEqual([]);
    expect(eventsOfRecord(record("MODIFY", silent, silent))).toEqual([]);
  });
});

describe("hook targets", () => {
  it("private, loopback, link-local and reserved addresses are refused, public ones are not", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:169.254.169.254",
      "64:ff9b::a00:1",
    ])
      expect(isPrivateAddress(address), address).toBe(true);
    for (const address of [
      "93.184.216.34",
      "8.8.8.8",
      "172.32.0.1",
      "2606:4700:4700::1111",
      "::ffff:8.8.8.8",
    ])
      expect(isPrivateAddress(address), address).toBe(false);
  });

  it("a URL naming a private address is refused unless the operator allows it", async () => {
    for (const url of [
      "http://127.0.0.1:8080/x",
      "http://[::1]/x",
      "http://169.254.169.254/latest/meta-data",
      "http://localhost/x",
    ])
      await expect(checkTarget(parseTargetUrl(url), false), url).rejects.toThrow(
        /private, loopback or link-local/,
      );
    await expect(checkTarget(parseTargetUrl("http://127.0.0.1:8080/x"), true)).resolves.toBeUndefined();
  });

  it("signatures are HMAC-SHA256 of the time and the body", () => {
    const at = new Date("2026-12-07T10:00:00Z");
    // echo -n '1796637600.{"a":1}' | openssl dgst -sha256 -hmac secret
    expect(signature("secret", '{"a":1}', at)).toBe(
      "t=1796637600,v1=8c3f281023b18fd31f37dd0ef39726e8ef1859af15a46e5b41ecd4927f7a252a",
    );
    expect(signature("secret", '{"a":1}', at)).not.toBe(signature("secret", '{"a":2}', at));
    expect(signature("secret", '{"a":1}', at)).not.toBe(signature("other", '{"a":1}', at));
  });
});
