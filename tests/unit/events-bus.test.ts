import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventBridgeBus, MAX_PUT_BYTES } from "#core/events/bus.js";
import type { FlowRunStateChange } from "#core/events/types.js";

/**
 * The EventBridge bus's PutEvents requests, as the real SDK client sends them, answered by a
 * loopback stand-in for EventBridge (no emulator exists): batches of at most 10 entries and
 * 256 KiB, an entry too large sent without its serialized state, and entries refused in a partly
 * failed PutEvents sent again alone until accepted.
 */
type Entry = { Source: string; DetailType: string; Detail: string; EventBusName: string; Time?: number };
type Request = { target: string | undefined; entries: Entry[] };

const requests: Request[] = [];
/** Decides, per request, which entry indexes to refuse (ThrottlingException). */
let refuse: (request: Request, n: number) => number[] = () => [];
let server: ReturnType<typeof createServer>;
let client: EventBridgeClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { Entries: Entry[] };
      const request = { target: req.headers["x-amz-target"] as string | undefined, entries: body.Entries };
      requests.push(request);
      const refused = new Set(refuse(request, requests.length));
      const entries = body.Entries.map((_, i) =>
        refused.has(i)
          ? { ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" }
          : { EventId: `id-${requests.length}-${i}` },
      );
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ FailedEntryCount: refused.size, Entries: entries }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  client = new EventBridgeClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
});
afterAll(async () => {
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  requests.length = 0;
  refuse = () => [];
});

function event(n: number, serialized: unknown = { type: "Failed" }): FlowRunStateChange {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    type: "FlowRunStateChange",
    timestamp: "2026-12-07T10:00:00.000Z",
    tenant_id: "11111111-1111-4111-8111-111111111111",
    flow_run: {
      id: "22222222-2222-4222-8222-222222222222",
      name: "run",
      flow_id: "33333333-3333-4333-8333-333333333333",
      flow_group_id: "44444444-4444-4444-8444-444444444444",
      project_id: "55555555-5555-4555-8555-555555555555",
      labels: [],
      scheduled_start_time: null,
      start_time: null,
      end_time: null,
      agent_id: null,
    },
    state: {
      previous: "Running",
      state: "Failed",
      message: null,
      version: n,
      timestamp: "2026-12-07T10:00:00.000Z",
      serialized_state: serialized,
    },
  };
}

const bus = () => new EventBridgeBus(client, "drover-test-events", { attempts: 3, minTimeoutMs: 1 });
const ids = (r: Request) => r.entries.map((e) => JSON.parse(e.Detail).id as string);

describe("EventBridgeBus", () => {
  it("sends PutEvents of at most 10 entries, in order, each an event of source drover on the bus", async () => {
    const events = Array.from({ length: 23 }, (_, i) => event(i));
    await bus().publish(events);
    expect(requests.map((r) => r.entries.length)).toEqual([10, 10, 3]);
    expect(requests.every((r) => r.target === "AWSEvents.PutEvents")).toBe(true);
    expect(requests.flatMap(ids)).toEqual(events.map((e) => e.id));
    const first = requests[0]?.entries[0];
    expect(first).toMatchObject({
      Source: "drover",
      DetailType: "FlowRunStateChange",
      EventBusName: "drover-test-events",
    });
    expect(JSON.parse(first?.Detail ?? "{}")).toEqual(events[0]);
    expect(first?.Time).toBe(Date.parse("2026-12-07T10:00:00.000Z") / 1000);
  });

  it("keeps each request within 256 KiB and sends an entry too large without its serialized state", async () => {
    const big = "x".repeat(60 * 1024);
    await bus().publish(Array.from({ length: 5 }, (_, i) => event(i, { type: "Failed", big })));
    expect(requests.map((r) => r.entries.length)).toEqual([4, 1]);
    for (const r of requests)
      expect(r.entries.reduce((sum, e) => sum + Buffer.byteLength(e.Detail), 0)).toBeLessThan(MAX_PUT_BYTES);

    requests.length = 0;
    await bus().publish([event(9, { type: "Failed", huge: "y".repeat(300 * 1024) })]);
    const detail = JSON.parse(requests[0]?.entries[0]?.Detail ?? "{}");
    expect(detail.state).toMatchObject({ state: "Failed", serialized_state: null, truncated: true });
    expect(detail.id).toBe(event(9).id);
  });

  it("sends again, alone, the entries a partly failed PutEvents refused, until they are accepted", async () => {
    refuse = (_, n) => (n === 1 ? [1, 3] : n === 2 ? [0] : []);
    const events = Array.from({ length: 5 }, (_, i) => event(i));
    await bus().publish(events);
    expect(requests.map(ids)).toEqual([
      events.map((e) => e.id),
      [events[1]?.id, events[3]?.id],
      [events[1]?.id],
    ]);
  });

  it("throws when entries are still refused after its attempts, so the stream batch is handed over again", async () => {
    refuse = (request) => request.entries.map((_, i) => i).filter((i) => i === 0);
    await expect(bus().publish([event(1), event(2)])).rejects.toThrow(/EventBridge refused 1 of the events/);
    expect(requests).toHaveLength(3);
  });
});
