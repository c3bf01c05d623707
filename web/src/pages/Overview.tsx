import { useEffect, useState } from "react";
import { graphqlUrl } from "../api/transport";
import type { Workspace } from "../app/workspace";
import { Link } from "../lib/router";
import { AgentsWidget, RunsWidget } from "./OverviewWidgets";

/** The workspace at a glance: runs and agents, then how to connect a Prefect agent. */
export function Overview({ workspace }: { workspace: Workspace }) {
  const [apiUrl, setApiUrl] = useState<string>();
  useEffect(() => {
    void graphqlUrl().then(setApiUrl);
  }, []);

  return (
    <>
      <h1>Overview</h1>
      <div className="grid overview-grid">
        <RunsWidget />
        <AgentsWidget />
      </div>
      <section className="card" aria-labelledby="connect-title">
        <h2 id="connect-title">Connect a Prefect agent to {workspace.name}</h2>
        <p>
          Drover speaks the Prefect Cloud 1.0 API. Point an unmodified Prefect 1.x client or agent at this
          workspace's API:
        </p>
        <ol className="steps">
          <li>
            In <code>~/.prefect/config.toml</code>:
            <pre>
              <code data-testid="prefect-config">{`[cloud]\napi = "${apiUrl ?? "…"}"`}</code>
            </pre>
          </li>
          <li>
            Create a key for the agent on the <Link to="/api-keys">API keys</Link> page, then:
            <pre>
              <code>
                {"prefect backend cloud\nprefect auth login --key <the key>\nprefect agent local start"}
              </code>
            </pre>
          </li>
          <li>
            Register a flow with <code>flow.register(project_name=...)</code> (create the project first with{" "}
            <code>prefect create project &lt;name&gt;</code>); its runs appear here.
          </li>
        </ol>
        <p className="muted">
          Workspace <strong>{workspace.name}</strong> (<code>{workspace.slug}</code>), id{" "}
          <code>{workspace.id}</code>.
        </p>
      </section>
    </>
  );
}
