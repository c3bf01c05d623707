import { useMemo } from "react";
import { StateBadge } from "../components/StateBadge";
import { Empty, ErrorNotice, Loading } from "../components/status";
import { Time } from "../components/Time";
import { Link, navigate, useLocation } from "../lib/router";
import { prefetch, useQuery } from "../lib/use-query";
import { CATALOG, type Catalog, type FlowRunRow, flowEntries, RUN_FIELDS } from "../orchestration/api";
import { formatDuration } from "../orchestration/format";
import { FAMILIES, FAMILY_ORDER } from "../orchestration/states";

export const PAGE_SIZE = 50;
/** Runs read per page when a label filter applies (labels are matched here, not by the API). */
const LABEL_SCAN = 500;

const SINCE: Record<string, { label: string; ms: number }> = {
  "1h": { label: "Last hour", ms: 3_600_000 },
  "24h": { label: "Last 24 hours", ms: 86_400_000 },
  "7d": { label: "Last 7 days", ms: 7 * 86_400_000 },
  "30d": { label: "Last 30 days", ms: 30 * 86_400_000 },
};

/**
 * The runs query, shaped around what the API serves fast: the tenant's runs come newest first by
 * `created`, so `order_by: {created: desc}` with a `limit` stops reading early. Pages go by keyset
 * (`created < cursor`), which keeps shared links stable while new runs arrive. The state filter
 * and the flow (an index) are sent to the API; labels (jsonb has no containment operator) and the
 * time window (a lower bound the API would scan past) are applied to the page here.
 */
const RUNS = /* GraphQL */ `
  query FlowRuns($where: flow_run_bool_exp, $limit: Int!) {
    flow_run(where: $where, order_by: [{ created: desc }], limit: $limit) {
      ${RUN_FIELDS}
    }
  }
`;

function go(params: Record<string, string | undefined>, push = false) {
  const search = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(params)) {
    if (value) search.set(name, value);
    else search.delete(name);
  }
  const query = search.toString();
  navigate(`/runs${query ? `?${query}` : ""}`, { replace: !push });
}

/** The runs query's variables for the page's URL (shared by the page and its prefetch). */
function runsVariables(search: URLSearchParams) {
  const state = search.get("state") ?? "";
  const flow = search.get("flow") ?? "";
  const label = search.get("label") ?? "";
  const before = search.get("before") ?? "";
  const conditions: Record<string, unknown>[] = [];
  const family = FAMILIES[state as keyof typeof FAMILIES];
  if (family) conditions.push({ state: { _in: family.states } });
  if (flow) conditions.push({ flow_group_id: { _eq: flow } });
  if (before) conditions.push({ created: { _lt: before } });
  const limit = label ? LABEL_SCAN : PAGE_SIZE + 1;
  return { where: conditions.length ? { _and: conditions } : {}, limit };
}

export function prefetchFlowRuns(_params: Record<string, string>, search: URLSearchParams): void {
  prefetch(RUNS, runsVariables(search));
  prefetch(CATALOG);
}

export function FlowRuns() {
  const { search } = useLocation();
  const state = search.get("state") ?? "";
  const flow = search.get("flow") ?? "";
  const label = search.get("label") ?? "";
  const since = search.get("since") ?? "";
  const before = search.get("before") ?? "";

  const catalog = useQuery<Catalog>(CATALOG, {}, { pollMs: 60_000 });
  const entries = useMemo(() => (catalog.data ? flowEntries(catalog.data) : []), [catalog.data]);
  const flowNames = useMemo(
    () => new Map((catalog.data?.flow ?? []).map((f) => [f.id, `${f.name}`] as const)),
    [catalog.data],
  );

  const variables = runsVariables(search);
  const limit = variables.limit;
  const runs = useQuery<{ flow_run: FlowRunRow[] }>(RUNS, variables, { pollMs: before ? 30_000 : 5_000 });

  const page = useMemo(() => {
    const raw = runs.data?.flow_run ?? [];
    const windowStart = SINCE[since] ? new Date(Date.now() - (SINCE[since]?.ms ?? 0)).toISOString() : "";
    let cut = false;
    const matches: FlowRunRow[] = [];
    for (const run of raw) {
      if (windowStart && run.created < windowStart) {
        cut = true;
        break;
      }
      if (label && !(run.labels ?? []).includes(label)) continue;
      matches.push(run);
    }
    const rows = matches.slice(0, PAGE_SIZE);
    let next: string | undefined;
    if (matches.length > PAGE_SIZE) next = rows[rows.length - 1]?.created;
    else if (!cut && raw.length === limit) next = raw[raw.length - 1]?.created;
    return { rows, next, scanned: raw.length };
  }, [runs.data, since, label, limit]);

  const tooBroad = runs.error?.message.includes("would read more than");
  const filtered = Boolean(state || flow || label || since);

  return (
    <>
      <h1>Flow runs</h1>
      <form className="filters" aria-label="Filter runs" onSubmit={(event) => event.preventDefault()}>
        <label>
          State
          <select value={state} onChange={(event) => go({ state: event.target.value, before: undefined })}>
            <option value="">All states</option>
            {FAMILY_ORDER.map((key) => (
              <option key={key} value={key}>
                {FAMILIES[key].label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Flow
          <select value={flow} onChange={(event) => go({ flow: event.target.value, before: undefined })}>
            <option value="">All flows</option>
            {entries.map((entry) => (
              <option key={entry.group.id} value={entry.group.id}>
                {entry.latest.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label
          <input
            type="search"
            placeholder="e.g. prod"
            defaultValue={label}
            key={label}
            onKeyDown={(event) => {
              if (event.key === "Enter")
                go({ label: event.currentTarget.value.trim() || undefined, before: undefined });
            }}
            onBlur={(event) => {
              const value = event.currentTarget.value.trim();
              if (value !== label) go({ label: value || undefined, before: undefined });
            }}
          />
        </label>
        <label>
          Created
          <select value={since} onChange={(event) => go({ since: event.target.value, before: undefined })}>
            <option value="">Any time</option>
            {Object.entries(SINCE).map(([key, option]) => (
              <option key={key} value={key}>
                {option.label}
              </option>
            ))}
          </select>
        </label>
        {filtered && (
          <button
            type="button"
            onClick={() =>
              go({ state: undefined, flow: undefined, label: undefined, since: undefined, before: undefined })
            }
          >
            Clear filters
          </button>
        )}
      </form>

      {runs.error && !runs.data ? (
        tooBroad ? (
          <div className="status error" role="alert">
            <p>
              Too many runs to search with this filter alone: the API reads at most 5,000 runs per request.
              Choose a flow as well, or a more common state.
            </p>
            <p className="small muted">{runs.error.message}</p>
          </div>
        ) : (
          <ErrorNotice error={runs.error} retry={runs.reload} />
        )
      ) : !runs.data ? (
        <Loading label="Loading runs…" />
      ) : page.rows.length === 0 && !before && !filtered ? (
        <Empty title="No flow runs yet">
          <p>
            Start one with <strong>Run now</strong> on the <Link to="/flows">flows page</Link>, from Python
            with <code>prefect run --name &lt;flow&gt;</code>, or let a schedule create them. An agent picks
            them up (see the <Link to="/">overview</Link>).
          </p>
        </Empty>
      ) : (
        <>
          {runs.error && <ErrorNotice error={runs.error} retry={runs.reload} />}
          <table className="table runs-table" data-testid="runs-table" aria-busy={runs.loading}>
            <thead>
              <tr>
                <th>Run</th>
                <th>Flow</th>
                <th>State</th>
                <th>Labels</th>
                <th>Scheduled</th>
                <th>Duration</th>
              </tr>
            </thead>
            <tbody>
              {page.rows.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted">
                    No runs match these filters{before ? " on this page" : ""}.
                  </td>
                </tr>
              )}
              {page.rows.map((run) => (
                <tr key={run.id} data-run-id={run.id}>
                  <td>
                    <Link to={`/runs/${run.id}`}>{run.name}</Link>
                  </td>
                  <td>{flowNames.get(run.flow_id) ?? <span className="muted">…</span>}</td>
                  <td>
                    <StateBadge state={run.state} title={run.state_message} />
                  </td>
                  <td>
                    {(run.labels ?? []).map((item) => (
                      <button
                        type="button"
                        key={item}
                        className="chip"
                        title={`Show runs labelled ${item}`}
                        onClick={() => go({ label: item, before: undefined })}
                      >
                        {item}
                      </button>
                    ))}
                  </td>
                  <td>
                    <Time iso={run.scheduled_start_time} />
                  </td>
                  <td>{formatDuration(run.start_time, run.end_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={!before} onClick={() => go({ before: undefined }, true)}>
              Newest
            </button>
            <span className="muted small">
              {page.rows.length} runs{label ? ` (labels matched among ${page.scanned} read)` : ""}
              {before ? (
                <>
                  {" "}
                  created before <Time iso={before} />
                </>
              ) : null}
            </span>
            <button type="button" disabled={!page.next} onClick={() => go({ before: page.next }, true)}>
              Older
            </button>
          </nav>
        </>
      )}
    </>
  );
}
