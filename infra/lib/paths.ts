import { fileURLToPath } from "node:url";

/** The repository root: NodejsFunction's project root and the base of every entry point. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function repoPath(...segments: string[]): string {
  return [REPO_ROOT.replace(/\/$/, ""), ...segments].join("/");
}
