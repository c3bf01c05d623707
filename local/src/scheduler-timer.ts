import { randomUUID } from "node:crypto";
import type { ScheduledEvent } from "aws-lambda";

/** The event an EventBridge schedule rule gives the scheduler Lambda. */
export function scheduledEvent(time: Date, region: string, ruleArn: string): ScheduledEvent {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "000000000000",
    time: time.toISOString(),
    region,
    resources: [ruleArn],
    detail: {},
  };
}

/** Invokes the handler now and then every `intervalMs`, never two ticks at once. */
export function startTimer(options: {
  intervalMs: number;
  region: string;
  handler: (event: ScheduledEvent) => Promise<unknown>;
  onError?: (error: unknown) => void;
}): { stop: () => Promise<void> } {
  let current: Promise<unknown> = Promise.resolve();
  const tick = () => {
    current = current
      .then(() =>
        options.handler(
          scheduledEvent(
            new Date(),
            options.region,
            "arn:aws:events:local:000000000000:rule/drover-scheduler",
          ),
        ),
      )
      .catch((error) => options.onError?.(error));
  };
  tick();
  const timer = setInterval(tick, options.intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await current;
    },
  };
}
