import { SECRET_RE } from "#core/api-key/index.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { StartupError } from "./dynamodb-local.js";

export const DEFAULT_SLUG = "default";

/** DROVER_BOOTSTRAP_KEY must be 32-128 printable ASCII characters without spaces; anything else stops startup. */
export function validateBootstrapKey(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!SECRET_RE.test(value)) {
    throw new StartupError(
      `DROVER_BOOTSTRAP_KEY is not usable: it must be 32 to 128 printable ASCII characters without spaces (got ${value.length} characters${/\s/.test(value) ? ", with whitespace" : ""}).`,
    );
  }
  return value;
}

export type Bootstrap = { workspace: Workspace.Workspace; secret: string | undefined; created: boolean };

/**
 * On an empty data folder, creates the `default` workspace and its first key (the bootstrap key
 * when given); on later starts does nothing, so the key is printed once.
 */
export async function bootstrapDefaultWorkspace(bootstrapKey: string | undefined): Promise<Bootstrap> {
  const existing = await Workspace.fromSlug(DEFAULT_SLUG);
  if (existing) return { workspace: existing, secret: undefined, created: false };
  const workspace = await Workspace.create({ name: "Default", slug: DEFAULT_SLUG });
  const key = await asTenant(workspace.id, () =>
    ApiKey.create({ name: "bootstrap", ...(bootstrapKey ? { secret: bootstrapKey } : {}) }),
  );
  return { workspace, secret: key.secret, created: true };
}
