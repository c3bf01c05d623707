import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { startReceiver } from "../helpers/receiver.js";
import { type Child, createRuns, graphql, killGroup, startRuntime } from "./logs-burst.js";

/**
 * Events survive a crash between a state write and its publish (docs/events.md, "Nothing
 * lost"): `drover start` in a child process, a webhook hook on Success pointing at a receiver in
 * this process, and 4 writers setting runs to Success; the runtime and its DynamoDB Local are
 * SIGKILLed halfway, while acknowledged changes are still on their way from the table's stream to
 * the hook. After a restart on the same data folder, the hook gets every acknowledged change.
 */
const RUNS = 80;
const WRITERS = 4;
const KILL_AFTER = 40;

const children: Child[] = [];
let dataDir: string | undefined;
afterEach(() => {
  for (const child of children.splice(0)) killGroup(child);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

const ENV = { DROVER_HOOK_ALLOW_PRIVATE_TARGETS: "true" };
const SET_STATE = `mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }`;

describe("events survive the runtime's death", () => {
  test("SIGKILL between state writes and their hook deliveries: after a restart every acknowledged change is delivered", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "drover-events-kill-"));
    const receiver = await startReceiver();
    try {
      const first = await startRuntime(dataDir, 90_000, ENV);
      children.push(first);
      const { runs } = await createRuns(first.graphqlUrl, RUNS);
      const gql = graphql(first.graphqlUrl);
      await gql(`mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id } }`, {
        input: { type: "WEBHOOK", states: ["SUCCESS"], config: { url: receiver.url } },
      });

      const acknowledged: string[] = [];
      let deliveredAtKill = -1;
      const queue = [...runs];
      await Promise.all(
        Array.from({ length: WRITERS }, async () => {
          for (let run = queue.shift(); run && deliveredAtKill < 0; run = queue.shift()) {
            try {
              await gql(SET_STATE, {
                input: {
                  states: [{ flow_run_id: run, version: null, state: { type: "Success", message: "done" } }],
                },
              });
              acknowledged.push(run);
            } catch {
              return;
            }
            if (acknowledged.length >= KILL_AFTER && deliveredAtKill < 0) {
              deliveredAtKill = new Set(receiver.received.map((r) => JSON.parse(r.body).event.flow_run.id))
                .size;
              killGroup(first);
            }
          }
        }),
      );
      await first.exited;
      const deliveredRuns = () => new Set(receiver.received.map((r) => JSON.parse(r.body).event.flow_run.id));
      // The crash came while acknowledged changes were still on their way to the hook.
      expect(deliveredAtKill).toBeGreaterThanOrEqual(0);
      expect(deliveredRuns().size, "changes not yet delivered at the kill").toBeLessThan(acknowledged.length);

      const second = await startRuntime(dataDir, 90_000, ENV);
      children.push(second);
      const deadline = Date.now() + 60_000;
      while (acknowledged.some((run) => !deliveredRuns().has(run)) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const missing = acknowledged.filter((run) => !deliveredRuns().has(run));
      expect(missing, "acknowledged changes never delivered").toEqual([]);
      // Only acknowledged runs (and any whose write committed as the process died) were delivered.
      const sent = new Set(runs);
      expect([...deliveredRuns()].filter((run) => !sent.has(run))).toEqual([]);
      second.process.kill("SIGTERM");
      await second.exited;
    } finally {
      await receiver.close();
    }
  });
});
