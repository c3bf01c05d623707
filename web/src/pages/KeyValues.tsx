import { useEffect, useState } from "react";
import { gql } from "../api/client";
import { useSessionInfo } from "../app/workspace";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Async, Empty } from "../components/status";
import { Time } from "../components/Time";
import { setSearchParams, useLocation } from "../lib/router";
import { useQuery } from "../lib/use-query";
import { KeyValueEditor } from "./KeyValueEditor";

const PAGE_SIZE = 50;

type Listed = { id: string; key: string; created: string };
type Pair = {
  id: string;
  key: string;
  value: unknown;
  version: number;
  updated: string;
  updated_by: string | null;
};

/** Keys only: the listing is one Query and fetches no values. */
const LIST = /* GraphQL */ `
  query KeyValueKeys($where: key_value_bool_exp) {
    key_value(where: $where, order_by: [{ key: asc }]) {
      id
      key
      created
    }
    key_value_usage {
      pair_count
      max_pairs
    }
  }
`;

/** Values of the visible page only. */
const VALUES = /* GraphQL */ `
  query KeyValuePage($keys: [String!]!) {
    key_value(where: { key: { _in: $keys } }) {
      id
      key
      value
      version
      updated
      updated_by
    }
  }
`;

const DELETE = /* GraphQL */ `
  mutation DeleteKeyValue($id: uuid!) {
    delete_key_value(input: { key_value_id: $id }) {
      success
    }
  }
`;

/** A prefix search: `_like` narrows the listing to keys beginning with the prefix's literal part. */
function prefixFilter(prefix: string): Record<string, unknown> | undefined {
  return prefix ? { key: { _like: `${prefix}%` } } : undefined;
}

export function KeyValues() {
  const { workspace } = useSessionInfo();
  const location = useLocation();
  const prefix = location.search.get("prefix") ?? "";
  const page = Math.max(1, Number(location.search.get("page") ?? "1") || 1);
  const editing = location.search.get("key");
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Listed>();
  const [draft, setDraft] = useState(prefix);

  useEffect(() => setDraft(prefix), [prefix]);
  useEffect(() => {
    if (draft === prefix) return;
    const timer = window.setTimeout(() => setSearchParams({ prefix: draft, page: undefined }), 250);
    return () => window.clearTimeout(timer);
  }, [draft, prefix]);

  const listing = useQuery<{
    key_value: Listed[];
    key_value_usage: { pair_count: number; max_pairs: number };
  }>(LIST, { where: prefixFilter(prefix) });
  // `_` in a LIKE pattern matches any character: keep only true prefix matches.
  const keys = (listing.data?.key_value ?? []).filter((pair) => pair.key.startsWith(prefix));
  const pages = Math.max(1, Math.ceil(keys.length / PAGE_SIZE));
  const visible = keys.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const values = useQuery<{ key_value: Pair[] }>(
    VALUES,
    { keys: visible.map((pair) => pair.key) },
    { skip: visible.length === 0 },
  );
  const byKey = new Map((values.data?.key_value ?? []).map((pair) => [pair.key, pair]));
  const refresh = () => {
    listing.reload();
    values.reload();
  };

  return (
    <>
      <h1>Key-value store</h1>
      <p className="muted">
        JSON values of <strong>{workspace.name}</strong>, shared by its flows (
        <code>prefect.backend.set_key_value</code>
        ).
        {listing.data && (
          <>
            {" "}
            {listing.data.key_value_usage.pair_count} of {listing.data.key_value_usage.max_pairs} pairs used.
          </>
        )}
      </p>
      <div className="toolbar">
        <label className="search">
          <span className="visually-hidden">Search keys by prefix</span>
          <input
            type="search"
            placeholder="Search keys by prefix…"
            value={draft}
            onChange={(event) => setDraft(event.target.value)}
          />
        </label>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New pair
        </button>
      </div>
      {creating && (
        <KeyValueEditor
          mode="create"
          onClose={() => setCreating(false)}
          onSaved={(key) => {
            setCreating(false);
            refresh();
            setSearchParams({ key });
          }}
        />
      )}
      {editing && !creating && (
        <KeyValueEditor
          mode="edit"
          pairKey={editing}
          onClose={() => setSearchParams({ key: undefined })}
          onSaved={refresh}
        />
      )}
      <Async state={listing}>
        {() =>
          keys.length === 0 ? (
            prefix ? (
              <Empty title={`No keys begin with “${prefix}”`}>
                <p>Try a shorter prefix, or clear the search.</p>
              </Empty>
            ) : (
              <Empty title="No key-value pairs yet">
                <p>
                  Create one with <strong>New pair</strong>, from a flow with{" "}
                  <code>set_key_value(key="name", value=...)</code>, or with{" "}
                  <code>prefect kv set name value</code>.
                </p>
              </Empty>
            )
          ) : (
            <>
              <table className="table" aria-label="Key-value pairs">
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Value</th>
                    <th scope="col">Version</th>
                    <th scope="col">Updated</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {visible.map((listed) => {
                    const pair = byKey.get(listed.key);
                    return (
                      <tr key={listed.id} data-kv-key={listed.key}>
                        <td>
                          <code>{listed.key}</code>
                        </td>
                        <td className="value-cell">
                          {pair ? (
                            <code className="preview">{preview(pair.value)}</code>
                          ) : (
                            <span className="muted">{values.error ? "could not load" : "…"}</span>
                          )}
                        </td>
                        <td>{pair?.version ?? ""}</td>
                        <td>{pair ? <Time iso={pair.updated} /> : ""}</td>
                        <td className="actions-cell">
                          <button type="button" onClick={() => setSearchParams({ key: listed.key })}>
                            Edit
                          </button>
                          <button type="button" className="danger" onClick={() => setDeleting(listed)}>
                            Delete
                          </button>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
              {pages > 1 && (
                <nav className="pager" aria-label="Pages">
                  <button
                    type="button"
                    disabled={page <= 1}
                    onClick={() => setSearchParams({ page: String(page - 1) })}
                  >
                    Previous
                  </button>
                  <span>
                    Page {page} of {pages} ({keys.length} keys)
                  </span>
                  <button
                    type="button"
                    disabled={page >= pages}
                    onClick={() => setSearchParams({ page: String(page + 1) })}
                  >
                    Next
                  </button>
                </nav>
              )}
            </>
          )
        }
      </Async>
      {deleting && (
        <ConfirmDialog
          title={`Delete “${deleting.key}”?`}
          confirmLabel="Delete pair"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await gql(DELETE, { id: deleting.id });
            if (editing === deleting.key) setSearchParams({ key: undefined });
            refresh();
          }}
        >
          <p>Flows reading this key will no longer find it. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function preview(value: unknown): string {
  const json = JSON.stringify(value);
  return json.length > 120 ? `${json.slice(0, 117)}…` : json;
}
