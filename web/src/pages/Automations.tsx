import { useEffect, useState } from "react";
import { useSessionInfo } from "../app/workspace";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import {
  ACTION_LABELS,
  AUTOMATIONS,
  type Automation,
  type AutomationHook,
  type AutomationsQueryResult,
  automationMutations,
  describeCondition,
  KIND_LABELS,
} from "../orchestration/automations";
import { flowScopes, hookName } from "../orchestration/cloud-hooks";
import { AutomationFires } from "./AutomationFires";
import { CreateAutomationForm } from "./AutomationForm";

/** The workspace's automations: create, pause and delete them, and read their firings. */
export function Automations() {
  const { workspace } = useSessionInfo();
  const automations = useQuery<AutomationsQueryResult>(AUTOMATIONS, {}, { pollMs: 30_000 });
  const [deleting, setDeleting] = useState<Automation>();
  const scopes = flowScopes(automations.data?.flow ?? []);
  const flowNames = new Map(scopes.map((scope) => [scope.versionGroupId, scope.name]));
  const hooks = automations.data?.cloud_hook ?? [];

  return (
    <>
      <h1>Automations</h1>
      <p className="muted">
        Conditions on <strong>{workspace.name}</strong>'s flow runs and agents, checked by the scheduler every
        minute: a run that is late or runs too long, an agent that stopped polling, a flow that keeps failing.
        Each calls a <Link to="/hooks">hook</Link>, cancels the run or pauses the flow's schedule, once per
        run or agent silence, and keeps a record of its firings.
      </p>
      <CreateAutomationForm flows={scopes} hooks={hooks} onCreated={automations.reload} />
      <h2>Automations of {workspace.name}</h2>
      <Async state={automations}>
        {(data) =>
          data.automation.length === 0 ? (
            <Empty title="No automations yet">
              <p>Create one above: pick a condition and what to do when it holds.</p>
            </Empty>
          ) : (
            <ul className="hook-list" aria-label="Automations">
              {data.automation.map((automation) => (
                <AutomationCard
                  key={automation.id}
                  automation={automation}
                  scope={
                    automation.version_group_id === null
                      ? null
                      : (flowNames.get(automation.version_group_id) ?? automation.version_group_id)
                  }
                  hook={data.cloud_hook.find((hook) => hook.id === automation.action.cloud_hook_id)}
                  changed={automations.reload}
                  onDelete={() => setDeleting(automation)}
                />
              ))}
            </ul>
          )
        }
      </Async>
      {deleting && (
        <ConfirmDialog
          title={`Delete “${automationTitle(deleting)}”?`}
          confirmLabel="Delete automation"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await automationMutations.remove(deleting.id);
            automations.reload();
          }}
        >
          <p>It stops firing at once and its record of firings is gone with it. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** An automation's name, or its condition in words when it has none. */
function automationTitle(automation: Automation): string {
  return automation.name || describeCondition(automation.kind, automation.threshold);
}

function AutomationCard({
  automation,
  scope,
  hook,
  changed,
  onDelete,
}: {
  automation: Automation;
  /** The flow the automation is restricted to (its name), null for every flow. */
  scope: string | null;
  /** The hook a HOOK action calls, when it still exists. */
  hook: AutomationHook | undefined;
  changed: () => void;
  onDelete: () => void;
}) {
  const title = automationTitle(automation);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [showFires, setShowFires] = useState(false);

  // The status shows what it was set to until the refetched automation agrees.
  const [pendingActive, setPendingActive] = useState<boolean>();
  const active = pendingActive ?? automation.active;
  useEffect(() => {
    if (pendingActive === automation.active) setPendingActive(undefined);
  }, [pendingActive, automation.active]);

  const toggleActive = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await automationMutations.setActive(automation.id, !active);
      setPendingActive(!active);
      changed();
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  const firesId = `automation-${automation.id}-fires`;
  const { type } = automation.action;
  return (
    <li>
      <article
        className="card hook-card automation-card"
        aria-label={`Automation ${title}`}
        data-automation-id={automation.id}
        data-active={String(active)}
      >
        <header className="flow-head">
          <h3>
            {title} <span className="badge">{KIND_LABELS[automation.kind] ?? automation.kind}</span>{" "}
            <span className={`badge ${active ? "active" : "paused"}`} data-testid="automation-status">
              {active ? "active" : "paused"}
            </span>
          </h3>
          <div className="flow-actions">
            <button type="button" onClick={toggleActive} disabled={busy}>
              {busy ? "Saving…" : active ? "Pause" : "Resume"}
            </button>
            <button type="button" className="danger" onClick={onDelete}>
              Delete
            </button>
          </div>
        </header>
        {error && (
          <p className="status error" role="alert">
            {error}
          </p>
        )}
        <dl className="facts">
          <dt>When</dt>
          <dd data-testid="automation-condition">
            {describeCondition(automation.kind, automation.threshold)}
          </dd>
          {automation.kind !== "AGENT_SILENT" && (
            <>
              <dt>Flows</dt>
              <dd>{scope === null ? "all flows" : <span className="chip">{scope}</span>}</dd>
            </>
          )}
          <dt>Then</dt>
          <dd data-testid="automation-action">
            {type === "HOOK" ? (
              hook ? (
                <>
                  Call hook <strong>{hookName(hook)}</strong>
                  {!hook.active && (
                    <>
                      {" "}
                      <span className="badge paused">hook paused: firings fail</span>
                    </>
                  )}
                </>
              ) : (
                <span className="status error">Call a hook that no longer exists</span>
              )
            ) : (
              (ACTION_LABELS[type] ?? type)
            )}
          </dd>
          <dt>Created</dt>
          <dd>
            <Time iso={automation.created} />
          </dd>
        </dl>
        <button
          type="button"
          className="link"
          aria-expanded={showFires}
          aria-controls={showFires ? firesId : undefined}
          onClick={() => setShowFires((shown) => !shown)}
        >
          {showFires ? "Hide firings" : "Show firings"}
        </button>
        {showFires && <AutomationFires automationId={automation.id} automationName={title} id={firesId} />}
      </article>
    </li>
  );
}
