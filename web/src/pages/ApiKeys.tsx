import { type FormEvent, useState } from "react";
import { gql } from "../api/client";
import { useSessionInfo } from "../app/workspace";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { useQuery } from "../lib/use-query";

type ApiKey = {
  id: string;
  name: string;
  prefix: string;
  role: string;
  status: "ACTIVE" | "EXPIRED" | "REVOKED";
  created: string;
  expires_at: string | null;
  revoked_at: string | null;
};

const KEYS = /* GraphQL */ `
  query ApiKeys {
    api_key(order_by: [{ created: desc }]) {
      id
      name
      prefix
      role
      status
      created
      expires_at
      revoked_at
    }
  }
`;

const CREATE = /* GraphQL */ `
  mutation CreateApiKey($input: create_api_key_input!) {
    create_api_key(input: $input) {
      id
      key
      api_key {
        name
      }
    }
  }
`;

const REVOKE = /* GraphQL */ `
  mutation RevokeApiKey($id: uuid!) {
    revoke_api_key(input: { key_id: $id }) {
      id
      status
    }
  }
`;

type Created = { id: string; key: string; api_key: { name: string } };

export function ApiKeys() {
  const { workspace, apiKeyId } = useSessionInfo();
  const keys = useQuery<{ api_key: ApiKey[] }>(KEYS);
  const [created, setCreated] = useState<Created>();
  const [revoking, setRevoking] = useState<ApiKey>();

  return (
    <>
      <h1>API keys</h1>
      <p className="muted">
        Keys of <strong>{workspace.name}</strong>. Agents, flows and the Prefect CLI authenticate with them.
        Drover stores only a hash: a key's secret is shown once, when it is created.
      </p>
      <CreateKeyForm
        onCreated={(result) => {
          setCreated(result);
          keys.reload();
        }}
      />
      {created && <NewSecret created={created} onDone={() => setCreated(undefined)} />}
      <Async state={keys}>
        {(data) =>
          data.api_key.length === 0 ? (
            <Empty title="No API keys">
              <p>Create one above for each agent or person that calls the API.</p>
            </Empty>
          ) : (
            <table className="table" aria-label="API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.api_key.map((key) => (
                  <tr key={key.id} data-key-id={key.id}>
                    <td>
                      {key.name}
                      {key.id === apiKeyId && <span className="tag">this session</span>}
                    </td>
                    <td>
                      <code>{key.prefix}…</code>
                    </td>
                    <td>{key.role.replace("_", " ")}</td>
                    <td>
                      <span className={`badge ${key.status.toLowerCase()}`}>{key.status.toLowerCase()}</span>
                      {key.revoked_at && (
                        <span className="muted small">
                          {" "}
                          <Time iso={key.revoked_at} relative />
                        </span>
                      )}
                    </td>
                    <td>
                      <Time iso={key.created} />
                    </td>
                    <td>
                      {key.expires_at ? <Time iso={key.expires_at} /> : <span className="muted">never</span>}
                    </td>
                    <td className="actions-cell">
                      {key.status !== "REVOKED" && (
                        <button type="button" className="danger" onClick={() => setRevoking(key)}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await gql(REVOKE, { id: revoking.id });
            keys.reload();
          }}
        >
          <p>
            Everything using <code>{revoking.prefix}…</code> stops working within seconds. This cannot be
            undone.
          </p>
          {revoking.id === apiKeyId && (
            <p className="status error">This is the key you signed in with: revoking it ends this session.</p>
          )}
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (created: Created) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = (form.elements.namedItem("key-name") as HTMLInputElement).value.trim();
    const expires = (form.elements.namedItem("key-expires") as HTMLInputElement).value;
    const role = (form.elements.namedItem("key-role") as HTMLSelectElement).value;
    if (!name) {
      setError("Give the key a name, e.g. the agent or person using it.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      // datetime-local is the viewer's wall-clock time; the API takes UTC.
      const input = { name, role, expires_at: expires ? new Date(expires).toISOString() : null };
      const data = await gql<{ create_api_key: Created }>(CREATE, { input });
      form.reset();
      onCreated(data.create_api_key);
    } catch (reason) {
      setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Create an API key">
      <div className="field">
        <label htmlFor="key-name">Name</label>
        <input id="key-name" name="key-name" maxLength={200} placeholder="e.g. agent-prod" />
      </div>
      <div className="field">
        <label htmlFor="key-role">Role</label>
        <select id="key-role" name="key-role" defaultValue="runner">
          <option value="admin">admin: everything, keys, secrets, limits, audit log</option>
          <option value="developer">developer: register, run, change and delete flows</option>
          <option value="runner">runner: an agent and its flow runs</option>
          <option value="read_only">read only</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="key-expires">Expires (optional, your time)</label>
        <input id="key-expires" name="key-expires" type="datetime-local" />
      </div>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create key"}
      </button>
      {error && (
        <p className="status error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** The new key's secret, shown this once; it is gone from the page when dismissed. */
function NewSecret({ created, onDone }: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section className="card secret" aria-labelledby="secret-title" role="status">
      <h2 id="secret-title">Key “{created.api_key.name}” created</h2>
      <p>Copy it now: it will not be shown again.</p>
      <div className="secret-row">
        <code data-testid="new-key-secret">{created.key}</code>
        <button type="button" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <button type="button" onClick={onDone}>
        I have saved it
      </button>
    </section>
  );
}
