import { StateBadge } from "../components/StateBadge";
import { Async } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { AGENTS, type AgentRow } from "../orchestration/agents";
import { familyOf } from "../orchestration/states";
import { AgentTable } from "./Agents";
import { RunsChart } from "./RunsChart";

/**
 * One bounded read feeds the runs widget: the newest runs by creation (the API stops reading at
 * the limit), from which the chart, the upcoming and late runs and the recent failures are drawn.
 * Runs the scheduler creates ahead of time are among the newest, so upcoming runs are there too.
 */
export const RECENT_LIMIT = 500;
const LATE_AFTER_MS = 60_000;
const RECENT = /* GraphQL */ `
  query RecentRuns($limit: Int!) {
    flow_run(order_by: [{ created: desc }], limit: $limit) {
      id
      name
      state
      state_timestamp
      scheduled_start_time
      created
    }
  }
`;

type Recent = {
  id: string;
  name: string;
  state: string;
  state_timestamp: string;
  scheduled_start_time: string;
  created: string;
};

function RunList({ runs, time, empty }: { runs: Recent[]; time: (run: Recent) => string; empty: string }) {
  if (runs.length === 0) return <p className="muted small">{empty}</p>;
  return (
    <ul className="run-list">
      {runs.map((run) => (
        <li key={run.id}>
          <Link to={`/runs/${run.id}`}>{run.name}</Link> <StateBadge state={run.state} />{" "}
          <span className="muted small">
            <Time iso={time(run)} relative />
          </span>
        </li>
      ))}
    </ul>
  );
}

export function RunsWidget() {
  const recent = useQuery<{ flow_run: Recent[] }>(RECENT, { limit: RECENT_LIMIT }, { pollMs: 15_000 });
  return (
    <section className="card" data-slot="runs" aria-labelledby="runs-title">
      <h2 id="runs-title">
        <Link to="/runs">Runs</Link>
      </h2>
      <Async state={recent}>
        {(data) => {
          const now = Date.now();
          const runs = data.flow_run;
          const waiting = runs.filter((run) => familyOf(run.state) === "scheduled");
          // A run is late once it waited a minute past its start (agents poll every ~10 s).
          const lateBefore = now - LATE_AFTER_MS;
          const upcoming = waiting
            .filter((run) => Date.parse(run.scheduled_start_time) >= lateBefore)
            .sort((a, b) => a.scheduled_start_time.localeCompare(b.scheduled_start_time))
            .slice(0, 5);
          const late = waiting
            .filter((run) => Date.parse(run.scheduled_start_time) < lateBefore)
            .sort((a, b) => a.scheduled_start_time.localeCompare(b.scheduled_start_time))
            .slice(0, 5);
          const failed = runs
            .filter(
              (run) =>
                familyOf(run.state) === "failed" && Date.parse(run.state_timestamp) >= now - 86_400_000,
            )
            .slice(0, 5);
          return (
            <>
              <RunsChart
                runs={runs.map((run) => ({ state: run.state, time: run.scheduled_start_time }))}
                now={now}
              />
              <div className="run-columns">
                <div data-testid="upcoming-runs">
                  <h3>Upcoming</h3>
                  <RunList
                    runs={upcoming}
                    time={(run) => run.scheduled_start_time}
                    empty="Nothing scheduled."
                  />
                </div>
                <div data-testid="late-runs">
                  <h3>Late</h3>
                  <RunList
                    runs={late}
                    time={(run) => run.scheduled_start_time}
                    empty="No run is waiting past its start time."
                  />
                </div>
                <div data-testid="failed-runs">
                  <h3>Failed, last 24 h</h3>
                  <RunList runs={failed} time={(run) => run.state_timestamp} empty="No failures." />
                </div>
              </div>
              <p className="muted small">
                From the {runs.length === RECENT_LIMIT ? `newest ${RECENT_LIMIT}` : runs.length} runs.{" "}
                <Link to="/runs">All runs</Link>
              </p>
            </>
          );
        }}
      </Async>
    </section>
  );
}

export function AgentsWidget() {
  const agents = useQuery<{ agent: AgentRow[] }>(AGENTS, {}, { pollMs: 15_000 });
  return (
    <section className="card" data-slot="agents" aria-labelledby="agents-title">
      <h2 id="agents-title">
        <Link to="/agents">Agents</Link>
      </h2>
      <Async state={agents}>
        {(data) =>
          data.agent.length === 0 ? (
            <p className="muted">
              No agent has polled yet: start one as shown below; it is listed here with its last poll.
            </p>
          ) : (
            <AgentTable agents={data.agent.slice(0, 8)} compact />
          )
        }
      </Async>
    </section>
  );
}
