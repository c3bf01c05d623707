import { type FormEvent, useEffect, useState } from "react";
import { ApiError, gql } from "../api/client";
import { ErrorNotice, Loading } from "../components/status";
import { Time } from "../components/Time";
import { useQuery } from "../lib/use-query";

const MAX_VALUE_BYTES = 10_000;

const PAIR = /* GraphQL */ `
  query KeyValue($key: String!) {
    key_value(where: { key: { _eq: $key } }) {
      id
      key
      value
      version
      updated
      updated_by
    }
  }
`;

const SET = /* GraphQL */ `
  mutation SetKeyValue($input: set_key_value_input!) {
    set_key_value(input: $input) {
      id
      version
    }
  }
`;

type Pair = {
  id: string;
  key: string;
  value: unknown;
  version: number;
  updated: string;
  updated_by: string | null;
};

type Props =
  | { mode: "create"; onClose: () => void; onSaved: (key: string) => void }
  | { mode: "edit"; pairKey: string; onClose: () => void; onSaved: (key: string) => void };

/** Parses the editor's text as JSON within the store's size limit; an error message otherwise. */
export function validateJson(text: string): { value: unknown } | { error: string } {
  if (text.trim() === "") return { error: "Enter a JSON value (null is allowed)." };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
  if (bytes > MAX_VALUE_BYTES)
    return { error: `The value is ${bytes} bytes; the limit is ${MAX_VALUE_BYTES}.` };
  return { value };
}

/** Creates a pair, or edits one with compare-and-set so a concurrent change is never overwritten. */
export function KeyValueEditor(props: Props) {
  const existing = useQuery<{ key_value: Pair[] }>(
    PAIR,
    { key: props.mode === "edit" ? props.pairKey : "" },
    { skip: props.mode === "create" },
  );
  const pair = existing.data?.key_value[0];
  const [key, setKey] = useState(props.mode === "edit" ? props.pairKey : "");
  const [text, setText] = useState(props.mode === "create" ? "{\n  \n}" : "");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (pair) setText(JSON.stringify(pair.value, null, 2));
  }, [pair]);

  if (props.mode === "edit") {
    if (existing.error) return <ErrorNotice error={existing.error} retry={existing.reload} />;
    if (!existing.data) return <Loading label="Loading the pair…" />;
    if (!pair) {
      return (
        <section className="card editor">
          <p>
            No pair with key <code>{props.pairKey}</code>: it may have been deleted.
          </p>
          <button type="button" onClick={props.onClose}>
            Close
          </button>
        </section>
      );
    }
  }

  const validation = validateJson(text);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if ("error" in validation) return;
    const target = props.mode === "edit" ? props.pairKey : key.trim();
    if (!target) {
      setError("Enter a key.");
      return;
    }
    setSaving(true);
    setError(undefined);
    setSaved(false);
    try {
      await gql(SET, {
        input: { key: target, value: validation.value, expected_version: pair ? pair.version : 0 },
      });
      setSaved(true);
      if (props.mode === "edit") existing.reload();
      props.onSaved(target);
    } catch (reason) {
      if (reason instanceof ApiError && reason.code === "VERSION_LOCKING_ERROR") {
        setError(
          props.mode === "edit"
            ? "Someone changed this pair since you opened it. Reload to see their value; your text is kept until then."
            : "A pair with this key already exists: edit it instead.",
        );
      } else setError(reason instanceof Error ? reason.message : String(reason));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      className="card editor"
      onSubmit={submit}
      aria-label={props.mode === "edit" ? "Edit pair" : "New pair"}
    >
      <h2>{props.mode === "edit" ? <code>{props.pairKey}</code> : "New pair"}</h2>
      {props.mode === "create" && (
        <div className="field">
          <label htmlFor="kv-key">Key</label>
          <input id="kv-key" value={key} maxLength={256} onChange={(event) => setKey(event.target.value)} />
        </div>
      )}
      {pair && (
        <p className="muted small">
          Version {pair.version}, updated <Time iso={pair.updated} />
        </p>
      )}
      <div className="field">
        <label htmlFor="kv-value">Value (JSON)</label>
        <textarea
          id="kv-value"
          rows={10}
          spellCheck={false}
          value={text}
          aria-invalid={"error" in validation}
          aria-describedby="kv-value-check"
          onChange={(event) => {
            setText(event.target.value);
            setSaved(false);
          }}
        />
        <p id="kv-value-check" className={"error" in validation ? "status error" : "muted small"}>
          {"error" in validation ? validation.error : "Valid JSON."}
        </p>
      </div>
      {error && (
        <div className="status error" role="alert">
          <p>{error}</p>
          {props.mode === "edit" && (
            <button type="button" onClick={existing.reload}>
              Reload
            </button>
          )}
        </div>
      )}
      {saved && !error && (
        <p className="status notice" role="status">
          Saved.
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={props.onClose}>
          Close
        </button>
        <button type="submit" className="primary" disabled={saving || "error" in validation}>
          {saving ? "Saving…" : "Save"}
        </button>
      </div>
    </form>
  );
}
