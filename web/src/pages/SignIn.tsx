import { type FormEvent, useState } from "react";
import { signIn } from "../api/session";

/** Sign-in with an API key: the key is exchanged for a session token and never stored. */
export function SignIn({ notice }: { notice: string | null }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const input = form.elements.namedItem("api-key") as HTMLInputElement;
    if (!input.value.trim()) {
      setError("Enter an API key.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await signIn(input.value);
      input.value = "";
    } catch (reason) {
      setError(
        (reason instanceof Error ? reason.message : String(reason)).replace(/^UNAUTHENTICATED:\s*/, ""),
      );
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <h1>Drover</h1>
      <p className="muted">Sign in to a workspace with one of its API keys.</p>
      {notice && (
        <p className="status notice" role="status">
          {notice}
        </p>
      )}
      <form onSubmit={submit} autoComplete="off">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="drv_…"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "sign-in-error" : undefined}
        />
        {error && (
          <p id="sign-in-error" className="status error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <details>
        <summary>Where do I get a key?</summary>
        <p>
          On its first start, <code>npm start</code> prints the first key of the <code>default</code>{" "}
          workspace. Create more with <code>npm run drover -- key create --workspace default --name me</code>,
          or on the API keys page once signed in. The key is only used to open this session; the dashboard
          does not keep it.
        </p>
      </details>
    </main>
  );
}
