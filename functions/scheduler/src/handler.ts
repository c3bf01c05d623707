import { Logger } from "@aws-lambda-powertools/logger";
import type { ScheduledEvent } from "aws-lambda";
import { checkAgentSilence, type SilenceResult } from "#core/agent/silence.js";
import { type AutomationTickResult, checkAutomations } from "#core/automation/evaluate.js";
import { type BackfillResult, backfillStep } from "#core/flow-run/backfill.js";
import { checkHealth, type HealthResult } from "#core/schedule/health.js";
import { type TickResult, tick } from "#core/schedule/tick.js";

const logger = new Logger({ serviceName: "drover-scheduler" });

/**
 * Invoked by an EventBridge rule every minute (locally: a timer, with the same event shape).
 * The work is core's: the schedule tick (upcoming runs) and the health checks (late runs,
 * zombies, lazarus, agents gone silent: core/src/agent/silence.ts) and the automations' timers
 * and silent-agent checks (core/src/automation),
 * side by side, and a slice of the data backfill after an upgrade
 * (core/src/flow-run/backfill.ts; one GetItem once it is done); one failing does not stop the
 * others. The clock is the invocation's own (a delayed event must not schedule in the past).
 */
// Well inside the function's 55 s timeout (the tick stops starting schedules at 45 s).
const BACKFILL_BUDGET_MS = 30_000;

export async function handler(event: ScheduledEvent): Promise<
  TickResult & {
    tick: string;
    health: HealthResult | null;
    backfill: BackfillResult | null;
    automations: AutomationTickResult | null;
    agents: SilenceResult | null;
  }
> {
  const now = new Date();
  const [scheduled, health, backfill, automations, agents] = await Promise.allSettled([
    tick({
      now,
      onError: (error, item) =>
        logger.error("schedule failed", { error, tenant: item.tenant_id, flowGroup: item.flow_group_id }),
      onOverQuota: (error, item, skipped) =>
        logger.warn("scheduled runs skipped: workspace at its stored-run quota", {
          tenant: item.tenant_id,
          flowGroup: item.flow_group_id,
          skipped,
          stored: error.stored,
          quota: error.quota,
        }),
    }),
    checkHealth({
      now,
      onError: (error, run) =>
        logger.error("health check failed", {
          error,
          tenant: run.tenant_id,
          flowRun: run.id,
          kind: run.kind,
        }),
    }),
    backfillStep({ budgetMs: BACKFILL_BUDGET_MS }),
    checkAutomations({ now, onError: (error) => logger.error("automation check failed", { error }) }),
    checkAgentSilence({ now }),
  ]);
  if (agents.status === "rejected") logger.error("agent silence check failed", { error: agents.reason });
  if (automations.status === "rejected")
    logger.error("automation checks failed", { error: automations.reason });
  if (health.status === "rejected") logger.error("health checks failed", { error: health.reason });
  if (backfill.status === "rejected") logger.error("backfill step failed", { error: backfill.reason });
  if (scheduled.status === "rejected") throw scheduled.reason;
  const result = {
    ...scheduled.value,
    health: health.status === "fulfilled" ? health.value : null,
    backfill: backfill.status === "fulfilled" ? backfill.value : null,
    automations: automations.status === "fulfilled" ? automations.value : null,
    agents: agents.status === "fulfilled" ? agents.value : null,
  };
  logger.info("scheduler tick", { event: event.time, rule: event.resources?.[0], ...result });
  return { tick: now.toISOString(), ...result };
}
