import { useEffect, useState } from "react";
import { useSessionInfo } from "../app/workspace";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { StateBadge } from "../components/StateBadge";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import {
  type CloudHook,
  flowScopes,
  HOOK_TYPE_LABELS,
  HOOKS,
  type HooksQueryResult,
  hookMutations,
  hookName,
  stateName,
  TEST_STATE_TYPES,
  type TestStateType,
} from "../orchestration/cloud-hooks";
import { HookDeliveries } from "./HookDeliveries";
import { type CreatedHook, CreateHookForm, NewHookSecret } from "./HookForm";
import { HookMessages } from "./HookMessages";

/** The workspace's cloud hooks: create, test, pause and delete them, and read their deliveries. */
export function Hooks() {
  const { workspace } = useSessionInfo();
  const hooks = useQuery<HooksQueryResult>(HOOKS, {}, { pollMs: 30_000 });
  // The signing secret lives in this page's state only: leaving the page forgets it.
  const [created, setCreated] = useState<CreatedHook>();
  const [deleting, setDeleting] = useState<CloudHook>();
  const [messagesTick, setMessagesTick] = useState(0);
  const scopes = flowScopes(hooks.data?.flow ?? []);
  const flowNames = new Map(scopes.map((scope) => [scope.versionGroupId, scope.name]));

  return (
    <>
      <h1>Hooks</h1>
      <p className="muted">
        What <strong>{workspace.name}</strong> calls when its flow runs enter a state: a webhook, a Slack
        channel, or a message in this dashboard. Each hook keeps a log of its recent deliveries. To call a
        hook when a run is late or too long, an agent goes silent or a flow keeps failing, add an{" "}
        <Link to="/automations">automation</Link>.
      </p>
      <CreateHookForm
        flows={scopes}
        onCreated={(result) => {
          setCreated(result.secret ? result : undefined);
          hooks.reload();
        }}
      />
      {created && <NewHookSecret created={created} onDone={() => setCreated(undefined)} />}
      <h2>Hooks of {workspace.name}</h2>
      <Async state={hooks}>
        {(data) =>
          data.cloud_hook.length === 0 ? (
            <Empty title="No hooks yet">
              <p>Create one above: pick the states to watch and where to send them.</p>
            </Empty>
          ) : (
            <ul className="hook-list" aria-label="Hooks">
              {data.cloud_hook.map((hook) => (
                <HookCard
                  key={hook.id}
                  hook={hook}
                  scope={
                    hook.version_group_id === null
                      ? null
                      : (flowNames.get(hook.version_group_id) ?? hook.version_group_id)
                  }
                  changed={hooks.reload}
                  onDelete={() => setDeleting(hook)}
                  onTested={() => {
                    if (hook.type === "PREFECT_MESSAGE") setMessagesTick((tick) => tick + 1);
                  }}
                />
              ))}
            </ul>
          )
        }
      </Async>
      <HookMessages refresh={messagesTick} />
      {deleting && (
        <ConfirmDialog
          title={`Delete “${hookName(deleting)}”?`}
          confirmLabel="Delete hook"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await hookMutations.remove(deleting.id);
            if (created?.id === deleting.id) setCreated(undefined);
            hooks.reload();
          }}
        >
          <p>It stops firing at once and its delivery log is gone with it. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function HookCard({
  hook,
  scope,
  changed,
  onDelete,
  onTested,
}: {
  hook: CloudHook;
  /** The flow the hook is restricted to (its name), null for every flow. */
  scope: string | null;
  changed: () => void;
  onDelete: () => void;
  onTested: () => void;
}) {
  const name = hookName(hook);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [showDeliveries, setShowDeliveries] = useState(false);
  const [deliveriesTick, setDeliveriesTick] = useState(0);
  const [testState, setTestState] = useState<TestStateType>("SUCCESS");
  const [testing, setTesting] = useState(false);
  const [testResult, setTestResult] = useState<{ success: boolean; error: string | null }>();

  // The status shows what it was set to until the refetched hook agrees.
  const [pendingActive, setPendingActive] = useState<boolean>();
  const active = pendingActive ?? hook.active;
  useEffect(() => {
    if (pendingActive === hook.active) setPendingActive(undefined);
  }, [pendingActive, hook.active]);

  const toggleActive = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await hookMutations.setActive(hook.id, !active);
      setPendingActive(!active);
      changed();
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  const test = async () => {
    setTesting(true);
    setTestResult(undefined);
    try {
      setTestResult(await hookMutations.test(hook.id, testState));
    } catch (reason) {
      setTestResult({ success: false, error: reason instanceof Error ? reason.message : String(reason) });
    } finally {
      setTesting(false);
      setDeliveriesTick((tick) => tick + 1);
      onTested();
    }
  };

  const deliveriesId = `hook-${hook.id}-deliveries`;
  const testId = `hook-${hook.id}-test-state`;
  return (
    <li>
      <article
        className="card hook-card"
        aria-label={`Hook ${name}`}
        data-hook-id={hook.id}
        data-active={String(active)}
      >
        <header className="flow-head">
          <h3>
            {name} <span className="badge">{HOOK_TYPE_LABELS[hook.type] ?? hook.type}</span>{" "}
            <span className={`badge ${active ? "active" : "paused"}`} data-testid="hook-status">
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
          <dt>States</dt>
          <dd className="hook-state-list">
            {hook.states.map((state) => (
              <StateBadge key={state} state={stateName(state)} />
            ))}
          </dd>
          <dt>Target</dt>
          <dd className="hook-target">
            {hook.type === "PREFECT_MESSAGE" ? (
              <span className="muted">messages in this dashboard</span>
            ) : (
              <code>{hook.config?.url ?? "—"}</code>
            )}
          </dd>
          <dt>Flows</dt>
          <dd>{scope === null ? "all flows" : <span className="chip">{scope}</span>}</dd>
          <dt>Created</dt>
          <dd>
            <Time iso={hook.created} />
          </dd>
        </dl>
        <div className="hook-test">
          <label className="inline-label" htmlFor={testId}>
            Test as
          </label>
          <select
            id={testId}
            value={testState}
            onChange={(event) => setTestState(event.target.value as TestStateType)}
          >
            {TEST_STATE_TYPES.map((state) => (
              <option key={state} value={state}>
                {stateName(state)}
              </option>
            ))}
          </select>
          <button type="button" onClick={test} disabled={testing}>
            {testing ? "Testing…" : "Test"}
          </button>
          <span className="hook-test-result" role="status" aria-live="polite">
            {testResult?.success && <span className="status notice">Test event delivered.</span>}
            {testResult && !testResult.success && (
              <span className="status error">Test failed: {testResult.error ?? "unknown error"}</span>
            )}
          </span>
        </div>
        <button
          type="button"
          className="link"
          aria-expanded={showDeliveries}
          aria-controls={showDeliveries ? deliveriesId : undefined}
          onClick={() => setShowDeliveries((shown) => !shown)}
        >
          {showDeliveries ? "Hide deliveries" : "Show deliveries"}
        </button>
        {showDeliveries && (
          <HookDeliveries hookId={hook.id} hookName={name} id={deliveriesId} refresh={deliveriesTick} />
        )}
      </article>
    </li>
  );
}
