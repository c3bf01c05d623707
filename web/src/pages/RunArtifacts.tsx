import { ErrorNotice } from "../components/status";
import { Time } from "../components/Time";
import { isExternal, Markdown, safeHref } from "../lib/markdown";
import { useQuery } from "../lib/use-query";

/**
 * The run's task run artifacts (Prefect's `create_link_artifact` / `create_markdown_artifact`),
 * oldest first: links as anchors when they are http(s) or relative, markdown rendered as text-only
 * elements (../lib/markdown.tsx), anything else as its JSON.
 */
type Artifact = {
  id: string;
  kind: string;
  data: unknown;
  created: string;
  task_run: { id: string; name: string | null; map_index: number; task: { name: string } | null } | null;
};

const ARTIFACTS = /* GraphQL */ `
  query RunArtifacts($id: uuid!) {
    task_run_artifact(where: { flow_run_id: { _eq: $id } }, order_by: [{ created: asc }]) {
      id
      kind
      data
      created
      task_run {
        id
        name
        map_index
        task {
          name
        }
      }
    }
  }
`;

function field(data: unknown, name: string): unknown {
  return data !== null && typeof data === "object" ? (data as Record<string, unknown>)[name] : undefined;
}

function taskName(artifact: Artifact): string {
  const run = artifact.task_run;
  const name = run?.name ?? run?.task?.name ?? "task run";
  return run && run.map_index >= 0 && !run.name ? `${name}[${run.map_index}]` : name;
}

function Body({ artifact }: { artifact: Artifact }) {
  const { kind, data } = artifact;
  if (kind === "link") {
    const link = field(data, "link");
    const href = safeHref(link);
    if (!href)
      return <code className="unsafe-link">{typeof link === "string" ? link : JSON.stringify(data)}</code>;
    return isExternal(href) ? (
      <a href={href} target="_blank" rel="noopener noreferrer">
        {href}
      </a>
    ) : (
      <a href={href}>{href}</a>
    );
  }
  const markdown = field(data, "markdown");
  if ((kind === "markdown" || kind === "md") && typeof markdown === "string")
    return <Markdown source={markdown} />;
  return <pre>{JSON.stringify(data, null, 2)}</pre>;
}

export function RunArtifacts({ runId, live }: { runId: string; live: boolean }) {
  const query = useQuery<{ task_run_artifact: Artifact[] }>(
    ARTIFACTS,
    { id: runId },
    { pollMs: live ? 5_000 : 15_000 },
  );
  const artifacts = query.data?.task_run_artifact ?? [];
  return (
    <section className="card" aria-labelledby="artifacts-title" data-testid="artifacts">
      <h2 id="artifacts-title">Artifacts</h2>
      {query.error && <ErrorNotice error={query.error} retry={query.reload} />}
      {artifacts.length === 0 ? (
        <p className="muted">
          {query.data
            ? "No artifacts. Tasks publish them with create_link_artifact and create_markdown_artifact."
            : "Loading artifacts…"}
        </p>
      ) : (
        <ul className="artifacts">
          {artifacts.map((artifact) => (
            <li key={artifact.id} className="artifact" data-kind={artifact.kind} data-artifact={artifact.id}>
              <div className="artifact-head small">
                <strong>{taskName(artifact)}</strong> <span className="chip">{artifact.kind}</span>{" "}
                <span className="muted">
                  <Time iso={artifact.created} />
                </span>
              </div>
              <div className="artifact-body">
                <Body artifact={artifact} />
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
