import { type FormEvent, useEffect, useRef, useState } from "react";
import {
  HOOK_STATE_GROUPS,
  HOOK_TYPE_LABELS,
  HOOK_TYPES,
  type HookType,
  hookMutations,
} from "../orchestration/cloud-hooks";

export type CreatedHook = { id: string; name: string; type: HookType; secret: string | null };

const TYPE_HELP: Record<HookType, string> = {
  WEBHOOK: "POSTs the event as JSON to the URL, signed with the hook's secret.",
  SLACK_WEBHOOK: "Posts a message to a Slack incoming-webhook URL.",
  PREFECT_MESSAGE: "Leaves a message in this dashboard (listed below the hooks).",
};

/** The form that creates a hook; the API's errors (bad URL, unknown flow, limit) show inline. */
export function CreateHookForm({
  flows,
  onCreated,
}: {
  flows: Array<{ versionGroupId: string; name: string }>;
  onCreated: (created: CreatedHook) => void;
}) {
  const [type, setType] = useState<HookType>("WEBHOOK");
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [scope, setScope] = useState("");
  const [states, setStates] = useState<Set<string>>(() => new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const needsUrl = type !== "PREFECT_MESSAGE";

  // A scoped flow that disappeared from the workspace is no longer offered.
  useEffect(() => {
    if (scope && !flows.some((flow) => flow.versionGroupId === scope)) setScope("");
  }, [flows, scope]);

  const toggle = (state: string, on: boolean) =>
    setStates((current) => {
      const next = new Set(current);
      if (on) next.add(state);
      else next.delete(state);
      return next;
    });

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (states.size === 0) {
      setError("Pick at least one state for the hook to watch.");
      return;
    }
    if (needsUrl && !url.trim()) {
      setError("Give the URL the hook calls.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const created = await hookMutations.create({
        type,
        name: name.trim() || null,
        states: [...states].map((state) => state.toUpperCase()),
        version_group_id: scope || null,
        config: needsUrl ? { url: url.trim() } : null,
      });
      onCreated({
        id: created.id,
        name: name.trim() || HOOK_TYPE_LABELS[type],
        type,
        secret: needsUrl ? created.signing_secret : null,
      });
      setName("");
      setUrl("");
      setScope("");
      setStates(new Set());
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card hook-form" onSubmit={submit} aria-labelledby="hook-form-title" noValidate>
      <h2 id="hook-form-title">New hook</h2>
      <div className="hook-form-fields">
        <div className="field">
          <label htmlFor="hook-type">Type</label>
          <select
            id="hook-type"
            value={type}
            aria-describedby="hook-type-help"
            onChange={(event) => setType(event.target.value as HookType)}
          >
            {HOOK_TYPES.map((value) => (
              <option key={value} value={value}>
                {HOOK_TYPE_LABELS[value]}
              </option>
            ))}
          </select>
          <p id="hook-type-help" className="muted small">
            {TYPE_HELP[type]}
          </p>
        </div>
        <div className="field">
          <label htmlFor="hook-name">Name (optional)</label>
          <input
            id="hook-name"
            maxLength={255}
            placeholder="e.g. failures to on-call"
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        {needsUrl && (
          <div className="field">
            <label htmlFor="hook-url">URL</label>
            <input
              id="hook-url"
              type="url"
              inputMode="url"
              autoComplete="off"
              placeholder="https://example.com/prefect-events"
              value={url}
              onChange={(event) => setUrl(event.target.value)}
            />
          </div>
        )}
        <div className="field">
          <label htmlFor="hook-flow">Flow</label>
          <select id="hook-flow" value={scope} onChange={(event) => setScope(event.target.value)}>
            <option value="">All flows</option>
            {flows.map((flow) => (
              <option key={flow.versionGroupId} value={flow.versionGroupId}>
                {flow.name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <fieldset className="hook-states">
        <legend>States: call the hook when a flow run enters</legend>
        {HOOK_STATE_GROUPS.map((group) => (
          <fieldset key={group.family} className="hook-state-group">
            <legend className="muted small">{group.label}</legend>
            {group.states.map((state) => (
              <label key={state} className="inline-label check">
                <input
                  type="checkbox"
                  checked={states.has(state)}
                  onChange={(event) => toggle(state, event.target.checked)}
                />
                {state}
              </label>
            ))}
          </fieldset>
        ))}
      </fieldset>
      {error && (
        <p className="status error" role="alert" data-testid="hook-form-error">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Creating…" : "Create hook"}
        </button>
      </div>
    </form>
  );
}

/** A new webhook's signing secret, shown this once; gone from the page when dismissed or left. */
export function NewHookSecret({ created, onDone }: { created: CreatedHook; onDone: () => void }) {
  const [copy, setCopy] = useState<"idle" | "copied" | "failed">("idle");
  const heading = useRef<HTMLHeadingElement>(null);
  const secret = useRef<HTMLElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: focus once per created hook.
  useEffect(() => {
    heading.current?.focus();
    setCopy("idle");
  }, [created.id]);

  const copySecret = async () => {
    try {
      await navigator.clipboard.writeText(created.secret ?? "");
      setCopy("copied");
    } catch {
      // No clipboard (permissions): select the text for a manual copy.
      if (secret.current) window.getSelection()?.selectAllChildren(secret.current);
      setCopy("failed");
    }
  };

  return (
    <section className="card secret" aria-labelledby="hook-secret-title">
      <h2 id="hook-secret-title" ref={heading} tabIndex={-1}>
        Hook “{created.name}” created
      </h2>
      <p>
        Its signing secret: each request carries <code>X-Drover-Signature: t=…,v1=…</code>, the HMAC-SHA256 of{" "}
        <code>t.body</code> with this secret. Copy it now: <strong>it is not shown again</strong>.
      </p>
      <div className="secret-row">
        <code ref={secret} data-testid="new-hook-secret">
          {created.secret}
        </code>
        <button type="button" onClick={copySecret}>
          {copy === "copied" ? "Copied" : "Copy"}
        </button>
      </div>
      <p className="muted small" role="status">
        {copy === "failed"
          ? "The browser refused the clipboard: the secret is selected, copy it by hand."
          : ""}
      </p>
      <button type="button" onClick={onDone}>
        I have saved it
      </button>
    </section>
  );
}
