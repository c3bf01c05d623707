import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import { BACKFILL_MARKER, backfillStep } from "#core/flow-run/backfill.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { pipelineFlow } from "../tests/helpers/prefect-flow.js";
import { seedFinishedRuns } from "../tests/helpers/seed-runs.js";
import { useFreshTables } from "./lib/environment.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * The lookup-key backfill after an upgrade (core/src/flow-run/backfill.ts): N runs stored as
 * versions before the name index and the started order stored them, over 4 workspaces, given
 * their keys by scheduler-sized steps (30 s each, as functions/scheduler runs it) one after the
 * other until the marker says done. Reported: runs updated per second of step, and the steps
 * (scheduler ticks) it takes. N defaults to 20,000; BENCH_BACKFILL_RUNS overrides it.
 */
const RUNS = Number(process.env.BENCH_BACKFILL_RUNS ?? 20_000);
const WORKSPACES = 4;
const STEP_BUDGET_MS = 30_000;

export const backfillBenchmark: Benchmark = {
  name: "backfill",
  description: `the lookup-key backfill of ${RUNS} runs stored before the name index, in scheduler-sized steps`,
  run: async (context) => {
    await useFreshTables(await context.environment.dynamo(), "backfill");
    context.log(`backfill: seeding ${RUNS} runs without lookup keys in ${WORKSPACES} workspaces`);
    for (let w = 0; w < WORKSPACES; w++) {
      const tenantId = (await Workspace.create({ name: `backfill-${w}` })).id;
      await asTenant(tenantId, async () => {
        const project = await Project.create({ name: "p" });
        const flowId = (
          await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("old") })
        ).id;
        const flow = await Flow.requireFlow(flowId);
        const target = { tenantId, flowId, flowGroupId: flow.flow_group_id, projectId: project.id };
        await seedFinishedRuns(useDynamo(), mainTable(), target, RUNS / WORKSPACES, {
          shape: "before-lookup-keys",
        });
      });
    }
    context.log("backfill: stepping");
    const steps: Array<{ updated: number; ms: number }> = [];
    let done = false;
    while (!done) {
      const t = performance.now();
      const step = await backfillStep({ budgetMs: STEP_BUDGET_MS });
      steps.push({ updated: step.updated, ms: performance.now() - t });
      done = step.done;
      context.log(
        `backfill: step ${steps.length}: ${step.updated} runs in ${(steps.at(-1)?.ms ?? 0).toFixed(0)} ms`,
      );
    }
    const updated = steps.reduce((sum, s) => sum + s.updated, 0);
    const seconds = steps.reduce((sum, s) => sum + s.ms, 0) / 1000;
    const marker = await useDynamo().send(new GetCommand({ TableName: mainTable(), Key: BACKFILL_MARKER }));
    const figure: Figure = {
      key: "backfill.rate",
      label: `lookup-key backfill of ${RUNS.toLocaleString("en-US")} runs in ${WORKSPACES} workspaces, ${STEP_BUDGET_MS / 1000} s steps`,
      value: updated / seconds,
      unit: "runs/s",
      note: `${steps.length} step(s), i.e. scheduler ticks (one a minute); ${updated} runs updated in ${seconds.toFixed(1)} s of steps`,
    };
    if (updated !== RUNS || marker.Item?.done !== true)
      figure.failure = `updated ${updated} of ${RUNS} runs; marker ${JSON.stringify(marker.Item ?? null)}`;
    return [figure];
  },
};
