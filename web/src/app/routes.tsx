import type { ComponentType } from "react";
import { ApiKeys } from "../pages/ApiKeys";
import { KeyValues } from "../pages/KeyValues";
import { Overview } from "../pages/Overview";
import type { Workspace } from "./workspace";

export type PageProps = { workspace: Workspace; params: Record<string, string> };

/**
 * Every page: its path (`:name` segments become params), its title, and whether the navigation
 * lists it. Pages over the orchestration API (flows and projects, flow runs, a flow run, agents)
 * are added here when their queries are served, e.g.
 *   { path: "/runs", title: "Flow runs", nav: true, component: FlowRuns },
 *   { path: "/runs/:id", title: "Flow run", nav: false, component: FlowRun },
 */
export type Page = { path: string; title: string; nav: boolean; component: ComponentType<PageProps> };

export const PAGES: Page[] = [
  { path: "/", title: "Overview", nav: true, component: Overview },
  { path: "/kv", title: "Key-value store", nav: true, component: KeyValues },
  { path: "/api-keys", title: "API keys", nav: true, component: ApiKeys },
];
