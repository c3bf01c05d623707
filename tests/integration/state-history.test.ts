import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { HISTORY_INLINE_BYTES } from "#core/state/history.js";
import { parseState } from "#core/state/types.js";
import * as TaskRun from "#core/task-run/index.js";
import { TaskRunKeys } from "#core/task-run/keys.js";
import { pipelineFlow, state } from "../helpers/orchestration.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * A run's state history lives in the run item; when the list outgrows HISTORY_INLINE_BYTES it is
 * moved to a page item of the run's partition (core/src/state/history.ts). Whatever the mix, the
 * history reads back complete, in version order, one entry per version.
 */
let tenant: string;
let flowId: string;

beforeAll(async () => {
  await useTestTables("state-history");
  tenant = (await Workspace.create({ name: "History" })).id;
  flowId = await asTenant(tenant, async () => {
    const project = await Project.create({ name: "history" });
    return (await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("history") })).id;
  });
});

const inTenant = <T>(fn: () => Promise<T>) => asTenant(tenant, fn);

async function partition(pk: string) {
  const result = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": pk },
    }),
  );
  return result.Items ?? [];
}

async function runningTaskRun(): Promise<{ flowRunId: string; taskRunId: string }> {
  return inTenant(async () => {
    const { id } = await FlowRun.create({ flow_id: flowId, parameters: { n: 1 } });
    await FlowRun.setState(id, 1, parseState(state("Running")));
    for await (const run of TaskRun.ofFlowRun(id)) return { flowRunId: id, taskRunId: String(run.id) };
    throw new Error("no task run");
  });
}

function expectConsecutive(history: Array<Record<string, unknown>>, count: number) {
  expect(history.map((entry) => entry.version)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
}

describe("state history", () => {
  it("creates a flow run with its first entry in the run item: one item, no entry items", async () => {
    const { flowRunId } = await runningTaskRun();
    const items = await partition(FlowRunKeys.run(tenant, flowRunId).pk);
    expect(items.map((item) => item.sk)).toEqual(["flow-run"]);
    const history = await inTenant(() => FlowRun.states(flowRunId));
    expect(history.map((entry) => [entry.version, entry.state])).toEqual([
      [1, "Scheduled"],
      [2, "Running"],
    ]);
    expect(history[0]).toMatchObject({ id: `${flowRunId}:1`, flow_run_id: flowRunId, tenant_id: tenant });
  });

  it("keeps a long history complete and ordered, moving full lists into pages and the run item small", async () => {
    const { taskRunId } = await runningTaskRun();
    const message = "x".repeat(300);
    const transitions = 40;
    await inTenant(async () => {
      for (let i = 0; i < transitions; i++) {
        const type = i % 2 === 0 ? "Running" : "Retrying";
        await TaskRun.setState(taskRunId, i + 1, parseState({ ...state(type), message: `${i} ${message}` }));
      }
    });
    const history = await inTenant(() => TaskRun.states(taskRunId));
    expectConsecutive(history, transitions + 1);
    expect(history[0]).toMatchObject({ state: "Pending", task_run_id: taskRunId, tenant_id: tenant });
    history.slice(1).forEach((entry, i) => {
      expect(String(entry.message).startsWith(`${i} `)).toBe(true);
    });
    const items = await partition(TaskRunKeys.run(tenant, taskRunId).pk);
    const run = items.find((item) => item.sk === "task-run");
    expect(Number(run?.history_bytes)).toBeLessThanOrEqual(HISTORY_INLINE_BYTES);
    const pages = items.filter((item) => String(item.sk).startsWith("state#"));
    expect(pages.length).toBeGreaterThan(1);
    const stored = pages.reduce((sum, page) => sum + (page.entries as unknown[]).length, 0);
    expect(stored + ((run?.history ?? []) as unknown[]).length).toBe(transitions);
    // Each page starts where the previous one ended; the run item's list after the last.
    const froms = pages.map((page) => Number(page.from));
    expect(froms[0]).toBe(2);
    pages.slice(1).forEach((page, i) => {
      const previous = pages[i] as { from: number; entries: unknown[] };
      expect(Number(page.from)).toBe(previous.from + previous.entries.length);
    });
  });

  it("keeps an entry larger than the budget, alone in the list, and the entries around it in order", async () => {
    const { taskRunId } = await runningTaskRun();
    await inTenant(async () => {
      await TaskRun.setState(taskRunId, 1, parseState(state("Running")));
      await TaskRun.setState(
        taskRunId,
        2,
        parseState({ ...state("Retrying"), message: "y".repeat(HISTORY_INLINE_BYTES) }),
      );
      await TaskRun.setState(taskRunId, 3, parseState(state("Running")));
      await TaskRun.setState(taskRunId, null, parseState(state("Success")));
    });
    const history = await inTenant(() => TaskRun.states(taskRunId));
    expect(history.map((entry) => [entry.version, entry.state])).toEqual([
      [1, "Pending"],
      [2, "Running"],
      [3, "Retrying"],
      [4, "Running"],
      [5, "Success"],
    ]);
    expect(String(history[2]?.message)).toHaveLength(HISTORY_INLINE_BYTES);
    const items = await partition(TaskRunKeys.run(tenant, taskRunId).pk);
    expect(
      items
        .filter((item) => String(item.sk).startsWith("state#"))
        .map((item) => [item.sk, (item.entries as unknown[]).length]),
    ).toEqual([
      ["state#0000000002", 1],
      ["state#0000000003", 1],
    ]);
  });

  it("gives concurrent unconditional transitions one entry each, across several page moves", async () => {
    const { taskRunId } = await runningTaskRun();
    const writers = 30;
    const message = "z".repeat(200);
    await inTenant(() =>
      Promise.all(
        Array.from({ length: writers }, (_, i) =>
          TaskRun.setState(taskRunId, null, parseState({ ...state("Running"), message: `w${i} ${message}` })),
        ),
      ),
    );
    const history = await inTenant(() => TaskRun.states(taskRunId));
    expectConsecutive(history, writers + 1);
    const writersSeen = history.slice(1).map((entry) => String(entry.message).split(" ")[0]);
    expect(new Set(writersSeen).size).toBe(writers);
    const run = await inTenant(() => TaskRun.requireTaskRun(taskRunId));
    expect(run.version).toBe(writers + 1);
    expect(history.at(-1)?.message).toBe(run.state_message);
    const pages = (await partition(TaskRunKeys.run(tenant, taskRunId).pk)).filter((item) =>
      String(item.sk).startsWith("state#"),
    );
    expect(pages.length).toBeGreaterThanOrEqual(2);
  });
});
