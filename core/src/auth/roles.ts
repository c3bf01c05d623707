/**
 * What an API key may do (docs/roles.md). Prefect Cloud 1.0 had Administrator, User, Read-only
 * user and the service accounts' Runner; Drover's keys carry one of:
 * - `admin`: everything, including API keys, secrets' values being set, workspace settings and the audit log;
 * - `developer`: register, run, change and delete flows and runs, KV, read secrets;
 * - `runner`: what an agent and its flow runs need (poll, states, logs, heartbeats, artifacts,
 *   reading secrets and KV), nothing else;
 * - `read_only`: reads, no secret values.
 */
export const ROLES = ["admin", "developer", "runner", "read_only"] as const;
export type Role = (typeof ROLES)[number];
