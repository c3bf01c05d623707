import { Logger } from "@aws-lambda-powertools/logger";
import type { ScheduledEvent } from "aws-lambda";
import { type TickResult, tick } from "#core/schedule/tick.js";

const logger = new Logger({ serviceName: "drover-scheduler" });

/**
 * Invoked by an EventBridge rule every minute (locally: a timer, with the same event shape).
 * The work is core's tick; the clock is the invocation's own (a delayed event must not schedule in the past).
 */
export async function handler(event: ScheduledEvent): Promise<TickResult & { tick: string }> {
  const now = new Date();
  const result = await tick({
    now,
    onError: (error, item) =>
      logger.error("schedule failed", { error, tenant: item.tenant_id, flowGroup: item.flow_group_id }),
  });
  logger.info("scheduler tick", { event: event.time, rule: event.resources?.[0], ...result });
  return { tick: now.toISOString(), ...result };
}
