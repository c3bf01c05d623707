import type { ComponentType } from "react";
import { Agents } from "../pages/Agents";
import { ApiKeys } from "../pages/ApiKeys";
import { Automations } from "../pages/Automations";
import { FlowRun } from "../pages/FlowRun";
import { FlowRuns, prefetchFlowRuns } from "../pages/FlowRuns";
import { Flows } from "../pages/Flows";
import { Hooks } from "../pages/Hooks";
import { KeyValues } from "../pages/KeyValues";
import { Overview } from "../pages/Overview";
import type { Workspace } from "./workspace";

export type PageProps = { workspace: Workspace; params: Record<string, string> };

/** Every page: its path (`:name` segments become params), its title, and whether the navigation lists it. */
export type Page = {
  path: string;
  title: string;
  nav: boolean;
  component: ComponentType<PageProps>;
  /** Starts the page's first queries (see `prefetch`) while the shell loads the workspace. */
  prefetch?: (params: Record<string, string>, search: URLSearchParams) => void;
};

export const PAGES: Page[] = [
  { path: "/", title: "Overview", nav: true, component: Overview },
  { path: "/flows", title: "Flows", nav: true, component: Flows },
  { path: "/runs", title: "Flow runs", nav: true, component: FlowRuns, prefetch: prefetchFlowRuns },
  { path: "/runs/:id", title: "Flow run", nav: false, component: FlowRun },
  { path: "/agents", title: "Agents", nav: true, component: Agents },
  { path: "/kv", title: "Key-value store", nav: true, component: KeyValues },
  { path: "/hooks", title: "Hooks", nav: true, component: Hooks },
  { path: "/automations", title: "Automations", nav: true, component: Automations },
  { path: "/api-keys", title: "API keys", nav: true, component: ApiKeys },
];
