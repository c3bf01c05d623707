import { type FormEvent, useEffect, useState } from "react";
import { Link } from "../lib/router";
import {
  ACTION_LABELS,
  type ActionType,
  AUTOMATION_KINDS,
  type AutomationHook,
  type AutomationKind,
  automationMutations,
  countsRuns,
  describeCondition,
  KIND_ACTIONS,
  KIND_LABELS,
  MAX_FAILURE_STREAK,
  MAX_THRESHOLD_MINUTES,
  watchesFlows,
} from "../orchestration/automations";
import { hookName } from "../orchestration/cloud-hooks";

const KIND_HELP: Record<AutomationKind, string> = {
  FLOW_RUN_LATE: "Fires when a flow run has not started this many minutes after its scheduled start.",
  FLOW_RUN_LONG: "Fires when a flow run has been running for more than this many minutes.",
  AGENT_SILENT: "Fires when an agent of the workspace has not polled for runs for this many minutes.",
  FLOW_FAILURES: "Fires when this many runs of a flow failed in a row; a success starts the count again.",
};

const ACTION_HELP: Record<ActionType, string> = {
  HOOK: "Sends an AutomationFired event to the hook, whatever states the hook watches.",
  CANCEL_RUN: "Cancels the late or long run.",
  PAUSE_SCHEDULE: "Pauses the schedule of the run's flow: no new scheduled runs until it is resumed.",
};

/**
 * The form that creates an automation. Its fields follow the kind: the threshold counts minutes or
 * runs, the flow scope is for the kinds that watch runs, the actions are those the kind allows;
 * the API's errors (threshold out of range, unknown hook or flow, limit) show inline.
 */
export function CreateAutomationForm({
  flows,
  hooks,
  onCreated,
}: {
  flows: Array<{ versionGroupId: string; name: string }>;
  hooks: AutomationHook[];
  onCreated: () => void;
}) {
  const [kind, setKind] = useState<AutomationKind>("FLOW_RUN_LATE");
  const [name, setName] = useState("");
  const [threshold, setThreshold] = useState("10");
  const [scope, setScope] = useState("");
  const [chosenAction, setAction] = useState<ActionType>("HOOK");
  const [hookId, setHookId] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const allowed = KIND_ACTIONS[kind];
  const action = allowed.includes(chosenAction) ? chosenAction : (allowed[0] ?? "HOOK");
  const runs = countsRuns(kind);
  const scoped = watchesFlows(kind);
  const hook = hooks.find((candidate) => candidate.id === hookId);

  // A flow or hook that disappeared from the workspace is no longer offered.
  useEffect(() => {
    if (scope && !flows.some((flow) => flow.versionGroupId === scope)) setScope("");
  }, [flows, scope]);
  useEffect(() => {
    if (hookId && !hooks.some((candidate) => candidate.id === hookId)) setHookId("");
  }, [hooks, hookId]);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = threshold.trim();
    if (!/^-?\d+$/.test(value)) {
      setError(
        runs
          ? "Give the number of failed runs in a row, a whole number."
          : "Give the minutes, a whole number.",
      );
      return;
    }
    if (action === "HOOK" && !hookId) {
      setError("Pick the hook to call.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await automationMutations.create({
        name: name.trim() || null,
        kind,
        threshold: Number.parseInt(value, 10),
        version_group_id: scoped ? scope || null : null,
        action: { type: action, cloud_hook_id: action === "HOOK" ? hookId : null },
      });
      onCreated();
      setName("");
      setScope("");
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  const preview = /^\d+$/.test(threshold.trim())
    ? describeCondition(kind, Number.parseInt(threshold.trim(), 10))
    : undefined;

  return (
    <form
      className="card hook-form automation-form"
      onSubmit={submit}
      aria-labelledby="automation-form-title"
      noValidate
    >
      <h2 id="automation-form-title">New automation</h2>
      <div className="hook-form-fields">
        <div className="field">
          <label htmlFor="automation-kind">When</label>
          <select
            id="automation-kind"
            value={kind}
            aria-describedby="automation-kind-help"
            onChange={(event) => setKind(event.target.value as AutomationKind)}
          >
            {AUTOMATION_KINDS.map((value) => (
              <option key={value} value={value}>
                {KIND_LABELS[value]}
              </option>
            ))}
          </select>
          <p id="automation-kind-help" className="muted small">
            {KIND_HELP[kind]}
          </p>
        </div>
        <div className="field">
          <label htmlFor="automation-threshold">{runs ? "Runs in a row" : "Minutes"}</label>
          <input
            id="automation-threshold"
            type="number"
            inputMode="numeric"
            min={1}
            max={runs ? MAX_FAILURE_STREAK : MAX_THRESHOLD_MINUTES}
            step={1}
            value={threshold}
            aria-describedby="automation-threshold-help"
            onChange={(event) => setThreshold(event.target.value)}
          />
          <p id="automation-threshold-help" className="muted small" data-testid="automation-preview">
            {preview ??
              (runs ? `1 to ${MAX_FAILURE_STREAK} runs.` : `1 to ${MAX_THRESHOLD_MINUTES} minutes.`)}
          </p>
        </div>
        <div className="field">
          <label htmlFor="automation-name">Name (optional)</label>
          <input
            id="automation-name"
            maxLength={255}
            placeholder="e.g. nightly ETL is late"
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        {scoped && (
          <div className="field">
            <label htmlFor="automation-flow">Flow</label>
            <select id="automation-flow" value={scope} onChange={(event) => setScope(event.target.value)}>
              <option value="">All flows</option>
              {flows.map((flow) => (
                <option key={flow.versionGroupId} value={flow.versionGroupId}>
                  {flow.name}
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field">
          <label htmlFor="automation-action">Then</label>
          <select
            id="automation-action"
            value={action}
            aria-describedby="automation-action-help"
            onChange={(event) => setAction(event.target.value as ActionType)}
          >
            {allowed.map((value) => (
              <option key={value} value={value}>
                {ACTION_LABELS[value]}
              </option>
            ))}
          </select>
          <p id="automation-action-help" className="muted small">
            {ACTION_HELP[action]}
          </p>
        </div>
        {action === "HOOK" && (
          <div className="field">
            <label htmlFor="automation-hook">Hook</label>
            <select
              id="automation-hook"
              value={hookId}
              aria-describedby="automation-hook-help"
              onChange={(event) => setHookId(event.target.value)}
            >
              <option value="">{hooks.length === 0 ? "No hooks yet" : "Pick a hook…"}</option>
              {hooks.map((candidate) => (
                <option key={candidate.id} value={candidate.id}>
                  {hookName(candidate)}
                  {candidate.active ? "" : " (paused)"}
                </option>
              ))}
            </select>
            <p id="automation-hook-help" className="muted small">
              {hooks.length === 0 ? (
                <>
                  Create one on the <Link to="/hooks">Hooks</Link> page first.
                </>
              ) : hook && !hook.active ? (
                "This hook is paused: firings fail until it is resumed."
              ) : (
                <>
                  Hooks are managed on the <Link to="/hooks">Hooks</Link> page.
                </>
              )}
            </p>
          </div>
        )}
      </div>
      {error && (
        <p className="status error" role="alert" data-testid="automation-form-error">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Creating…" : "Create automation"}
        </button>
      </div>
    </form>
  );
}
