import { Logger } from "@aws-lambda-powertools/logger";
import type { ScheduledEvent } from "aws-lambda";

const logger = new Logger({ serviceName: "drover-scheduler" });

export type TickResult = { tick: string; runsCreated: number };

/**
 * Invoked by an EventBridge rule every minute (locally: a timer, with the same event shape).
 * Creating scheduled runs and cleaning up late, zombie and vanished runs arrive with the scheduler issue.
 */
export async function handler(event: ScheduledEvent): Promise<TickResult> {
  const tick = event.time ?? new Date().toISOString();
  logger.debug("scheduler tick", { tick, rule: event.resources?.[0] });
  return { tick, runsCreated: 0 };
}
