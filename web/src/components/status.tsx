import type { ReactNode } from "react";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="status loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

/** An error with what the API said and, when given, a way to try again. */
export function ErrorNotice({ error, retry }: { error: Error; retry?: () => void }) {
  return (
    <div className="status error" role="alert">
      <p>{error.message}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** An empty list, saying what to do next. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="status empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}

/** Loading, error or content: the three states every data-backed section has. */
export function Async<T>({
  state,
  children,
}: {
  state: { data: T | undefined; error: Error | undefined; loading: boolean; reload: () => void };
  children: (data: T) => ReactNode;
}) {
  if (state.error && state.data === undefined)
    return <ErrorNotice error={state.error} retry={state.reload} />;
  if (state.data === undefined) return <Loading />;
  return (
    <>
      {state.error && <ErrorNotice error={state.error} retry={state.reload} />}
      {children(state.data)}
    </>
  );
}
