import { useEffect, useState } from "react";
import { useSessionInfo } from "../app/workspace";
import { FormDialog } from "../components/FormDialog";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { Link, navigate, setSearchParams, useLocation } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { CATALOG, type Catalog, type FlowEntry, flowEntries, mutations } from "../orchestration/api";

/** Projects and their flows: versions, schedule on/off, labels, parameters, run now. */
export function Flows() {
  const { workspace } = useSessionInfo();
  const location = useLocation();
  const projectFilter = location.search.get("project") ?? "";
  const catalog = useQuery<Catalog>(CATALOG, {}, { pollMs: 30_000 });

  return (
    <>
      <h1>Projects and flows</h1>
      <Async state={catalog}>
        {(data) => {
          const entries = flowEntries(data);
          if (data.project.length === 0 && entries.length === 0) {
            return (
              <Empty title={`No projects in ${workspace.name} yet`}>
                <p>
                  Create a project with <code>prefect create project &lt;name&gt;</code>, then register a flow
                  with <code>flow.register(project_name="&lt;name&gt;")</code>. It appears here with its
                  versions and runs.
                </p>
              </Empty>
            );
          }
          const projects = data.project
            .filter((project) => !projectFilter || project.id === projectFilter)
            .sort((a, b) => a.name.localeCompare(b.name));
          return (
            <>
              <div className="toolbar">
                <label className="inline-label">
                  Project{" "}
                  <select
                    value={projectFilter}
                    onChange={(event) => setSearchParams({ project: event.target.value })}
                  >
                    <option value="">All projects</option>
                    {data.project.map((project) => (
                      <option key={project.id} value={project.id}>
                        {project.name}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
              {projects.map((project) => {
                const flows = entries.filter((entry) => entry.latest.project_id === project.id);
                return (
                  <section key={project.id} className="project" aria-label={`Project ${project.name}`}>
                    <h2>
                      {project.name} <span className="muted small">{flows.length} flows</span>
                    </h2>
                    {project.description && <p className="muted">{project.description}</p>}
                    {flows.length === 0 ? (
                      <p className="muted">
                        No flows yet: register one with{" "}
                        <code>flow.register(project_name="{project.name}")</code>.
                      </p>
                    ) : (
                      flows.map((entry) => (
                        <FlowCard key={entry.group.id} entry={entry} changed={catalog.reload} />
                      ))
                    )}
                  </section>
                );
              })}
            </>
          );
        }}
      </Async>
    </>
  );
}

function FlowCard({ entry, changed }: { entry: FlowEntry; changed: () => void }) {
  const { group, latest, versions } = entry;
  const [running, setRunning] = useState(false);
  const [editingLabels, setEditingLabels] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const parameters = latest.parameters ?? [];
  const labels = group.labels ?? [];

  // The switch shows the state it was set to until the refetched flow agrees.
  const [pendingActive, setPendingActive] = useState<boolean>();
  const active = pendingActive ?? latest.is_schedule_active;
  useEffect(() => {
    if (pendingActive === latest.is_schedule_active) setPendingActive(undefined);
  }, [pendingActive, latest.is_schedule_active]);

  const toggleSchedule = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await mutations.setScheduleActive(latest.id, !active);
      setPendingActive(!active);
      changed();
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="card flow-card" aria-label={`Flow ${latest.name}`} data-flow-group={group.id}>
      <header className="flow-head">
        <h3>
          <Link to={`/runs?flow=${encodeURIComponent(group.id)}`}>{latest.name}</Link>{" "}
          <span className="badge">v{latest.version}</span>
          {latest.archived && <span className="badge expired">archived</span>}
        </h3>
        <div className="flow-actions">
          {latest.schedule ? (
            <button
              type="button"
              role="switch"
              aria-checked={active}
              aria-label="Schedule"
              className={`switch ${active ? "on" : ""}`}
              disabled={busy}
              onClick={toggleSchedule}
            >
              {busy ? "Saving…" : `Schedule ${active ? "on" : "off"}`}
            </button>
          ) : (
            <span className="muted small">No schedule</span>
          )}
          <button
            type="button"
            className="primary"
            onClick={() => setRunning(true)}
            disabled={latest.archived}
          >
            Run now
          </button>
        </div>
      </header>
      {error && (
        <p className="status error" role="alert">
          {error}
        </p>
      )}
      <dl className="facts">
        <dt>Labels</dt>
        <dd>
          {editingLabels ? (
            <LabelsEditor
              labels={labels}
              onDone={(saved) => {
                setEditingLabels(false);
                if (saved) changed();
              }}
              groupId={group.id}
            />
          ) : (
            <>
              {labels.length === 0 ? <span className="muted">none</span> : null}
              {labels.map((label) => (
                <span key={label} className="chip">
                  {label}
                </span>
              ))}{" "}
              <button type="button" className="link" onClick={() => setEditingLabels(true)}>
                Edit labels
              </button>
            </>
          )}
        </dd>
        <dt>Parameters</dt>
        <dd>
          {parameters.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <ul className="params">
              {parameters.map((parameter) => (
                <li key={parameter.name}>
                  <code>{parameter.name}</code>
                  {parameter.required ? <span className="tag">required</span> : null}
                  {"default" in parameter && parameter.default !== undefined && (
                    <span className="muted"> = {JSON.stringify(parameter.default)}</span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Versions</dt>
        <dd>
          <details>
            <summary>
              {versions.length} version{versions.length === 1 ? "" : "s"}, latest registered{" "}
              <Time iso={latest.created} relative />
            </summary>
            <ul className="versions">
              {versions.map((flow) => (
                <li key={flow.id}>
                  v{flow.version} · <Time iso={flow.created} />
                  {flow.archived && <span className="badge expired">archived</span>}{" "}
                  <Link to={`/runs?flow=${encodeURIComponent(group.id)}`} className="small">
                    runs
                  </Link>
                </li>
              ))}
            </ul>
          </details>
        </dd>
      </dl>
      {running && <RunNowDialog entry={entry} onClose={() => setRunning(false)} />}
    </article>
  );
}

function LabelsEditor({
  labels,
  groupId,
  onDone,
}: {
  labels: string[];
  groupId: string;
  onDone: (saved: boolean) => void;
}) {
  const [draft, setDraft] = useState(labels.join(", "));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setBusy(true);
    try {
      const next = [...new Set(draft.split(",").map((label) => label.trim()))].filter(Boolean);
      await mutations.setGroupLabels(groupId, next);
      onDone(true);
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
      setBusy(false);
    }
  };
  return (
    <span className="labels-editor">
      <input
        aria-label="Labels (comma-separated)"
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter") void save();
          if (event.key === "Escape") onDone(false);
        }}
      />
      <button type="button" onClick={save} disabled={busy}>
        Save labels
      </button>
      <button type="button" onClick={() => onDone(false)} disabled={busy}>
        Cancel
      </button>
      {error && (
        <span className="status error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** The parameters a run starts with unless changed: each parameter's default, then the group's. */
function defaultParameters(entry: FlowEntry): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const parameter of entry.latest.parameters ?? []) {
    if (parameter.default !== undefined) values[parameter.name] = parameter.default;
  }
  return { ...values, ...(entry.group.default_parameters ?? {}) };
}

function RunNowDialog({ entry, onClose }: { entry: FlowEntry; onClose: () => void }) {
  const [text, setText] = useState(() => JSON.stringify(defaultParameters(entry), null, 2));
  const [name, setName] = useState("");
  let parsed: Record<string, unknown> | undefined;
  let problem: string | undefined;
  try {
    const value = JSON.parse(text || "{}") as unknown;
    if (value && typeof value === "object" && !Array.isArray(value))
      parsed = value as Record<string, unknown>;
    else problem = "Parameters must be a JSON object.";
  } catch (error) {
    problem = `Not valid JSON: ${error instanceof Error ? error.message : String(error)}`;
  }
  return (
    <FormDialog
      title={`Run ${entry.latest.name} now`}
      submitLabel="Start run"
      valid={parsed !== undefined}
      onClose={onClose}
      onSubmit={async () => {
        const id = await mutations.createRun({
          flowId: entry.latest.id,
          parameters: parsed ?? {},
          ...(name.trim() ? { name: name.trim() } : {}),
        });
        navigate(`/runs/${id}`);
      }}
    >
      <div className="field">
        <label htmlFor="run-parameters">Parameters (JSON)</label>
        <textarea
          id="run-parameters"
          rows={8}
          value={text}
          aria-invalid={problem ? true : undefined}
          aria-describedby="run-parameters-check"
          onChange={(event) => setText(event.target.value)}
        />
        <p id="run-parameters-check" className={problem ? "status error small" : "muted small"}>
          {problem ?? "Valid JSON. Required parameters without a default must be given."}
        </p>
      </div>
      <div className="field">
        <label htmlFor="run-name">Run name (optional)</label>
        <input id="run-name" value={name} onChange={(event) => setName(event.target.value)} />
      </div>
    </FormDialog>
  );
}
