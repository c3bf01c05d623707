import { useState } from "react";
import type { PageProps } from "../app/routes";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { FormDialog } from "../components/FormDialog";
import { StateBadge } from "../components/StateBadge";
import { Empty, ErrorNotice, Loading } from "../components/status";
import { Time } from "../components/Time";
import { Link, navigate } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { mutations } from "../orchestration/api";
import { formatDuration } from "../orchestration/format";
import { FAMILY_COLORS, familyOf, isFinished, STATE_TYPES } from "../orchestration/states";
import { RunArtifacts } from "./RunArtifacts";
import { RunLogs } from "./RunLogs";
import { StatesTimeline } from "./StatesTimeline";
import { TaskRuns } from "./TaskRuns";

export type RunState = {
  id: string;
  version: number;
  state: string;
  message: string | null;
  timestamp: string;
  start_time: string | null;
};

export type TaskRunRow = {
  id: string;
  task_id: string;
  task_slug: string;
  map_index: number;
  name: string | null;
  state: string;
  state_message: string | null;
  start_time: string | null;
  end_time: string | null;
};

type Run = {
  id: string;
  name: string;
  version: number;
  state: string;
  state_message: string | null;
  labels: string[] | null;
  parameters: Record<string, unknown> | null;
  scheduled_start_time: string;
  start_time: string | null;
  end_time: string | null;
  created: string;
  agent_id: string | null;
  flow: { id: string; name: string; version: number; flow_group_id: string; tasks: TaskInfo[] } | null;
  states: RunState[];
  task_runs: TaskRunRow[];
};

export type TaskInfo = { id: string; name: string; slug: string; mapped: boolean | null };

const RUN = /* GraphQL */ `
  query FlowRun($id: uuid!) {
    flow_run_by_pk(id: $id) {
      id
      name
      version
      state
      state_message
      labels
      parameters
      scheduled_start_time
      start_time
      end_time
      created
      agent_id
      flow {
        id
        name
        version
        flow_group_id
        tasks {
          id
          name
          slug
          mapped
        }
      }
      states(order_by: [{ version: asc }]) {
        id
        version
        state
        message
        timestamp
        start_time
      }
      task_runs(order_by: [{ map_index: asc }]) {
        id
        task_id
        task_slug
        map_index
        name
        state
        state_message
        start_time
        end_time
      }
    }
  }
`;

type Action = "cancel" | "delete" | "set-state" | "restart";

/** One flow run: state (live), states timeline, task runs (mapped children grouped), logs, actions. */
export function FlowRun({ params }: PageProps) {
  const id = params.id ?? "";
  const [pollMs, setPollMs] = useState(2_000);
  const query = useQuery<{ flow_run_by_pk: Run | null }>(RUN, { id }, { pollMs });
  const [action, setAction] = useState<Action>();
  const run = query.data?.flow_run_by_pk;
  const finished = run ? isFinished(run.state) : false;
  // Fast while the run moves, slower once it is finished (it may still be restarted or changed).
  const wanted = finished ? 10_000 : 2_000;
  if (run && wanted !== pollMs) setPollMs(wanted);

  if (query.error && !query.data) return <ErrorNotice error={query.error} retry={query.reload} />;
  if (!query.data) return <Loading label="Loading the run…" />;
  if (!run) {
    return (
      <Empty title="This flow run does not exist">
        <p>
          It may have been deleted. See all <Link to="/runs">flow runs</Link>.
        </p>
      </Empty>
    );
  }
  const failedTaskRuns = run.task_runs.filter((taskRun) => familyOf(taskRun.state) !== "success");

  return (
    <>
      <p className="crumbs small">
        <Link to="/runs">Flow runs</Link>
        {run.flow && (
          <>
            {" "}
            ·{" "}
            <Link to={`/runs?flow=${encodeURIComponent(run.flow.flow_group_id)}`}>
              {run.flow.name} v{run.flow.version}
            </Link>
          </>
        )}
      </p>
      <header className="run-head">
        <h1>{run.name}</h1>
        <span data-testid="run-state">
          <StateBadge state={run.state} />
        </span>
        <div className="actions">
          <button type="button" onClick={() => setAction("set-state")}>
            Set state
          </button>
          {(familyOf(run.state) === "failed" || familyOf(run.state) === "cancelled") && (
            <button type="button" onClick={() => setAction("restart")}>
              Restart
            </button>
          )}
          <button type="button" className="danger" disabled={finished} onClick={() => setAction("cancel")}>
            Cancel run
          </button>
          <button type="button" className="danger" onClick={() => setAction("delete")}>
            Delete
          </button>
        </div>
      </header>
      {query.error && <ErrorNotice error={query.error} retry={query.reload} />}
      {run.state_message && <p className="muted">{run.state_message}</p>}
      <dl className="facts run-facts">
        <dt>Scheduled</dt>
        <dd>
          <Time iso={run.scheduled_start_time} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time iso={run.start_time} />
        </dd>
        <dt>Ended</dt>
        <dd>
          <Time iso={run.end_time} />
        </dd>
        <dt>Duration</dt>
        <dd>{formatDuration(run.start_time, run.end_time)}</dd>
        <dt>Labels</dt>
        <dd>
          {(run.labels ?? []).length === 0 && <span className="muted">none</span>}
          {(run.labels ?? []).map((label) => (
            <Link key={label} className="chip" to={`/runs?label=${encodeURIComponent(label)}`}>
              {label}
            </Link>
          ))}
        </dd>
        <dt>Parameters</dt>
        <dd>
          <code data-testid="run-parameters">{JSON.stringify(run.parameters ?? {})}</code>
        </dd>
      </dl>

      <section className="card" aria-labelledby="states-title">
        <h2 id="states-title">States</h2>
        <StatesTimeline states={run.states} finished={finished} />
      </section>

      <section className="card" aria-labelledby="tasks-title">
        <h2 id="tasks-title">Task runs</h2>
        <TaskRuns taskRuns={run.task_runs} tasks={run.flow?.tasks ?? []} />
      </section>

      <RunArtifacts runId={run.id} live={!finished} />

      <RunLogs runId={run.id} live={!finished} />

      {action === "cancel" && (
        <ConfirmDialog
          title="Cancel this run?"
          confirmLabel="Cancel run"
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            await mutations.cancelRun(run.id);
            query.reload();
          }}
        >
          <p>
            <strong>{run.name}</strong> goes to Cancelling if it is running (its agent stops it), else
            straight to Cancelled. Unfinished task runs are cancelled with it.
          </p>
        </ConfirmDialog>
      )}
      {action === "delete" && (
        <ConfirmDialog
          title="Delete this run?"
          confirmLabel="Delete run"
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            await mutations.deleteRun(run.id);
            navigate("/runs");
          }}
        >
          <p>
            <strong>{run.name}</strong>, its task runs and its state history are deleted. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
      {action === "restart" && (
        <ConfirmDialog
          title="Restart this run?"
          confirmLabel="Restart run"
          onClose={() => setAction(undefined)}
          onConfirm={async () => {
            if (failedTaskRuns.length > 0) {
              await mutations.setTaskRunStates(
                failedTaskRuns.map((taskRun) => ({
                  id: taskRun.id,
                  type: "Pending",
                  message: "Restarted from the dashboard.",
                })),
              );
            }
            await mutations.setRunState(run.id, "Scheduled", "Restarted from the dashboard.");
            query.reload();
          }}
        >
          <p>
            The {failedTaskRuns.length} task runs that did not succeed go back to Pending and the run to
            Scheduled, so an agent picks it up again; successful task runs are kept.
          </p>
        </ConfirmDialog>
      )}
      {action === "set-state" && (
        <SetStateDialog
          runId={run.id}
          current={run.state}
          onClose={() => setAction(undefined)}
          done={query.reload}
        />
      )}
    </>
  );
}

function SetStateDialog({
  runId,
  current,
  onClose,
  done,
}: {
  runId: string;
  current: string;
  onClose: () => void;
  done: () => void;
}) {
  const [state, setState] = useState(current === "Failed" ? "Success" : "Failed");
  const [message, setMessage] = useState("Set from the dashboard.");
  return (
    <FormDialog
      title="Set the run's state"
      submitLabel="Set state"
      onClose={onClose}
      onSubmit={async () => {
        await mutations.setRunState(runId, state, message);
        done();
      }}
    >
      <p className="muted small">
        Forces the state, whatever the runner thinks (no version check). Finishing a run this way does not
        stop a running process: cancel it for that.
      </p>
      <div className="field">
        <label htmlFor="new-state">New state</label>
        <select id="new-state" value={state} onChange={(event) => setState(event.target.value)}>
          {STATE_TYPES.map((type) => (
            <option key={type} value={type} style={{ color: FAMILY_COLORS[familyOf(type)] }}>
              {type}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="new-state-message">Message</label>
        <input id="new-state-message" value={message} onChange={(event) => setMessage(event.target.value)} />
      </div>
    </FormDialog>
  );
}
