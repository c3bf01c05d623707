import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { AGENTS, type AgentRow, agentHealth } from "../orchestration/agents";

/** The agents that polled this workspace, and when each last did. */
export function Agents() {
  const agents = useQuery<{ agent: AgentRow[] }>(AGENTS, {}, { pollMs: 10_000 });
  return (
    <>
      <h1>Agents</h1>
      <p className="muted">
        Agents poll the API for runs to start; each poll updates its “last polled” time.
      </p>
      <Async state={agents}>
        {(data) => (data.agent.length === 0 ? <NoAgents /> : <AgentTable agents={data.agent} />)}
      </Async>
    </>
  );
}

export function NoAgents() {
  return (
    <Empty title="No agent has polled this workspace yet">
      <p>
        Start one with <code>prefect agent local start</code> after pointing Prefect at this API (see the{" "}
        <Link to="/">overview</Link>) with a key from <Link to="/api-keys">API keys</Link>.
      </p>
    </Empty>
  );
}

export function AgentTable({ agents, compact = false }: { agents: AgentRow[]; compact?: boolean }) {
  const sorted = [...agents].sort((a, b) => (b.last_queried ?? "").localeCompare(a.last_queried ?? ""));
  return (
    <table className="table agents" data-testid="agents">
      <thead>
        <tr>
          <th>Agent</th>
          {!compact && <th>Type</th>}
          <th>Labels</th>
          <th>Last polled</th>
          {!compact && <th>Version</th>}
        </tr>
      </thead>
      <tbody>
        {sorted.map((agent) => {
          const health = agentHealth(agent.last_queried);
          return (
            <tr key={agent.id} data-agent-id={agent.id}>
              <td>
                <span className={`health ${health}`} title={health} aria-hidden="true" />{" "}
                <span className="visually-hidden">{health}: </span>
                {agent.name ?? <span className="muted">unnamed</span>}
              </td>
              {!compact && <td>{agent.type ?? "—"}</td>}
              <td>
                {(agent.labels ?? []).map((label) => (
                  <span key={label} className="chip">
                    {label}
                  </span>
                ))}
              </td>
              <td>
                <Time iso={agent.last_queried} relative />
              </td>
              {!compact && <td>{agent.core_version ?? "—"}</td>}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
