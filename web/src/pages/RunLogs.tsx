import { useEffect, useRef, useState } from "react";
import { gql } from "../api/client";
import { ErrorNotice } from "../components/status";
import { formatDateTime } from "../lib/time";
import { useQuery } from "../lib/use-query";

/**
 * The run's logs, when the API serves `flow_run.logs` (it is being added): asked once through
 * introspection, so this panel turns on by itself when the field exists. Until then it is a marked
 * slot saying logs are not served yet.
 */
let logsServed: Promise<boolean> | undefined;
function apiServesLogs(): Promise<boolean> {
  logsServed ??= gql<{ __type: { fields: Array<{ name: string }> } | null }>(
    '{ __type(name: "flow_run") { fields { name } } }',
  )
    .then((data) => Boolean(data.__type?.fields.some((field) => field.name === "logs")))
    .catch(() => {
      logsServed = undefined;
      return false;
    });
  return logsServed;
}

type Log = { id: string; timestamp: string; level: string; message: string; name: string | null };

/** The newest lines at or above the level (the API filters the level; its order is by time). */
export const LOG_LIMIT = 500;
const LOGS = /* GraphQL */ `
  query RunLogs($id: uuid!, $levels: [String!]!, $limit: Int!) {
    flow_run_by_pk(id: $id) {
      logs(where: { level: { _in: $levels } }, order_by: [{ timestamp: desc }], limit: $limit) {
        id
        timestamp
        level
        message
        name
      }
    }
  }
`;

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

export function RunLogs({ runId, live }: { runId: string; live: boolean }) {
  const [served, setServed] = useState<boolean>();
  useEffect(() => {
    let current = true;
    void apiServesLogs().then((value) => {
      if (current) setServed(value);
    });
    return () => {
      current = false;
    };
  }, []);
  return (
    <section className={`card${served ? "" : " slot"}`} data-slot="logs" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      {served === undefined ? (
        <p className="muted">…</p>
      ) : served ? (
        <LogView runId={runId} live={live} />
      ) : (
        <p className="muted">
          This API does not serve run logs yet (<code>flow_run.logs</code>); they will show here, with a level
          filter and follow mode, once it does.
        </p>
      )}
    </section>
  );
}

function LogView({ runId, live }: { runId: string; live: boolean }) {
  const [level, setLevel] = useState("INFO");
  const [follow, setFollow] = useState(true);
  const query = useQuery<{ flow_run_by_pk: { logs: Log[] } | null }>(
    LOGS,
    { id: runId, levels: LEVELS.slice(LEVELS.indexOf(level)), limit: LOG_LIMIT },
    { pollMs: follow && live ? 2_000 : follow ? 10_000 : 0 },
  );
  const box = useRef<HTMLDivElement>(null);
  const newest = query.data?.flow_run_by_pk?.logs ?? [];
  const logs = [...newest].reverse();
  const lastId = logs[logs.length - 1]?.id;
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when a new last line arrives.
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lastId, follow]);
  return (
    <>
      <div className="toolbar">
        <label className="inline-label">
          Level{" "}
          <select value={level} onChange={(event) => setLevel(event.target.value)}>
            {LEVELS.map((name) => (
              <option key={name} value={name}>
                {name} and above
              </option>
            ))}
          </select>
        </label>
        <label className="inline-label">
          <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} />{" "}
          Follow
        </label>
      </div>
      {query.error && <ErrorNotice error={query.error} retry={query.reload} />}
      {newest.length === LOG_LIMIT && <p className="muted small">Showing the newest {LOG_LIMIT} lines.</p>}
      <div className="logs" ref={box} data-testid="logs" role="log">
        {logs.length === 0 ? (
          <p className="muted">{query.data ? "No log lines at this level yet." : "Loading logs…"}</p>
        ) : (
          logs.map((log) => (
            <div key={log.id} className={`log log-${log.level.toLowerCase()}`}>
              <span className="muted">{formatDateTime(log.timestamp)}</span> <strong>{log.level}</strong>{" "}
              {log.name && <span className="muted">{log.name}</span>} {log.message}
            </div>
          ))
        )}
      </div>
    </>
  );
}
