import type { FlowRunStateChange } from "../events/types.js";

/**
 * What a hook is told about a flow run's state change: Prefect Cloud 1.0's `FlowRunStateChange`
 * event (the body its webhooks posted as `{"event": ...}`), with the flow and workspace it was read
 * with. docs/events.md documents every field.
 */
export type HookEvent = {
  id: string;
  timestamp: string;
  type: "FlowRunStateChange";
  is_test_event: boolean;
  tenant: { id: string; slug: string | null };
  flow: { id: string; name: string | null; version_group_id: string | null; flow_group_id: string };
  flow_run: {
    id: string;
    name: string;
    flow_id: string;
    version: number;
    state: string;
    labels: string[];
    scheduled_start_time: string | null;
    start_time: string | null;
    end_time: string | null;
  };
  state: {
    version: number;
    state: string;
    message: string | null;
    previous_state: string | null;
    serialized_state: unknown;
  };
};

/** What a hook is told when an automation that calls it fires (docs/events.md, "Automations"). */
export type AutomationEvent = {
  id: string;
  timestamp: string;
  type: "AutomationFired";
  is_test_event: false;
  tenant: { id: string; slug: string | null };
  automation: { id: string; name: string | null; kind: string; threshold: number };
  reason: string;
  flow_run: { id: string; name: string; flow_id: string; state: string; labels: string[] } | null;
  agent: { id: string; name: string | null; labels: string[]; last_queried: string | null } | null;
};

/** Anything a hook is sent. */
export type Payload = HookEvent | AutomationEvent;

export function hookEvent(
  event: FlowRunStateChange,
  context: {
    tenantSlug: string | null;
    flowName: string | null;
    versionGroupId: string | null;
    isTest?: boolean;
  },
): HookEvent {
  const run = event.flow_run;
  return {
    id: event.id,
    timestamp: event.timestamp,
    type: "FlowRunStateChange",
    is_test_event: context.isTest ?? false,
    tenant: { id: event.tenant_id, slug: context.tenantSlug },
    flow: {
      id: run.flow_id,
      name: context.flowName,
      version_group_id: context.versionGroupId,
      flow_group_id: run.flow_group_id,
    },
    flow_run: {
      id: run.id,
      name: run.name,
      flow_id: run.flow_id,
      version: event.state.version,
      state: event.state.state,
      labels: run.labels,
      scheduled_start_time: run.scheduled_start_time,
      start_time: run.start_time,
      end_time: run.end_time,
    },
    state: {
      version: event.state.version,
      state: event.state.state,
      message: event.state.message,
      previous_state: event.state.previous,
      serialized_state: event.state.serialized_state,
    },
  };
}

/** A WEBHOOK's body. */
export function webhookBody(event: Payload): string {
  return JSON.stringify({ event });
}

/** The dashboard's page of the run, when the operator said where the dashboard is. */
export function runLink(event: Payload, publicUrl: string | undefined): string | null {
  return publicUrl && event.flow_run ? `${publicUrl.replace(/\/$/, "")}/runs/${event.flow_run.id}` : null;
}

/** Escapes Slack's mrkdwn control characters in user text. */
const slackText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A SLACK_WEBHOOK's body: the message Prefect Cloud posted, in Slack's block kit. */
export function slackBody(event: Payload, publicUrl: string | undefined): string {
  if (event.type === "AutomationFired") return slackAutomationBody(event, publicUrl);
  const flow = event.flow.name ?? event.flow.id;
  const link = runLink(event, publicUrl);
  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
  const blocks = [
    section(`Run \`${slackText(event.flow_run.name)}\` of flow \`${slackText(flow)}\` entered a new state:`),
    section(`*State:* \`${event.state.state}\``),
    section(`*Message:* ${slackText(event.state.message ?? "")}`),
    ...(link ? [section(`*Link:* ${link}`)] : []),
  ];
  return JSON.stringify({
    text: `Run ${event.flow_run.name} of flow ${flow} entered a new state: ${event.state.state}`,
    blocks,
  });
}

function slackAutomationBody(event: AutomationEvent, publicUrl: string | undefined): string {
  const name = event.automation.name ?? event.automation.kind;
  const link = runLink(event, publicUrl);
  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
  return JSON.stringify({
    text: `Automation ${name} fired: ${event.reason}`,
    blocks: [
      section(`Automation \`${slackText(name)}\` fired:`),
      section(slackText(event.reason)),
      ...(link ? [section(`*Link:* ${link}`)] : []),
    ],
  });
}
