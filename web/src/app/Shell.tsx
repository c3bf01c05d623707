import { useEffect } from "react";
import { signOut, useSessionState } from "../api/session";
import { ErrorNotice, Loading } from "../components/status";
import { Time } from "../components/Time";
import { Link, matchPath, useLocation } from "../lib/router";
import { viewerTimeZone } from "../lib/time";
import { useQuery } from "../lib/use-query";
import { NotFound } from "../pages/NotFound";
import { PAGES } from "./routes";
import { SessionContext, WORKSPACE_QUERY, type WorkspaceQueryResult } from "./workspace";

/** The signed-in frame: the workspace's name, navigation, the page, the viewer's time zone. */
export function Shell() {
  const location = useLocation();
  const { session } = useSessionState();
  const info = useQuery<WorkspaceQueryResult>(WORKSPACE_QUERY, {}, { pollMs: 60_000 });
  const workspace = info.data?.tenant[0];

  let matched: { page: (typeof PAGES)[number]; params: Record<string, string> } | undefined;
  for (const page of PAGES) {
    const params = matchPath(page.path, location.pathname);
    if (params) {
      matched = { page, params };
      break;
    }
  }

  // On a cold load, the page's own queries start alongside the workspace's, not after it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, for the page the app opened on.
  useEffect(() => {
    matched?.page.prefetch?.(matched.params, location.search);
  }, []);

  useEffect(() => {
    const title = matched?.page.title ?? "Not found";
    document.title = workspace ? `${title} · ${workspace.name} · Drover` : `${title} · Drover`;
  }, [matched?.page.title, workspace]);

  return (
    <div className="shell">
      <header className="topbar">
        <Link to="/" className="brand">
          Drover
        </Link>
        <span className="workspace" data-testid="workspace-name" title={workspace?.slug}>
          {workspace ? workspace.name : info.error ? "—" : "…"}
        </span>
        <nav aria-label="Main">
          {PAGES.filter((page) => page.nav).map((page) => (
            <Link key={page.path} to={page.path} aria-current={matched?.page === page ? "page" : undefined}>
              {page.title}
            </Link>
          ))}
        </nav>
        <button type="button" className="sign-out" onClick={() => signOut("You signed out.")}>
          Sign out
        </button>
      </header>
      <main className="content">
        {info.error && !info.data ? (
          <ErrorNotice error={info.error} retry={info.reload} />
        ) : !info.data ? (
          <Loading label="Loading the workspace…" />
        ) : !workspace ? (
          <ErrorNotice error={new Error("This session's workspace no longer exists.")} />
        ) : (
          <SessionContext.Provider value={{ workspace, apiKeyId: info.data.auth_info.api_key_id }}>
            {matched ? (
              <matched.page.component workspace={workspace} params={matched.params} />
            ) : (
              <NotFound />
            )}
          </SessionContext.Provider>
        )}
      </main>
      <footer className="footer muted small">
        Times in your zone ({viewerTimeZone}).
        {session && (
          <>
            {" "}
            Session ends <Time iso={session.expiresAt} relative />.
          </>
        )}
      </footer>
    </div>
  );
}
