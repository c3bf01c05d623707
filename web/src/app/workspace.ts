import { createContext, useContext } from "react";

export type Workspace = { id: string; name: string; slug: string };

/** The signed-in workspace and the API key its session stands for. */
export type SessionInfo = { workspace: Workspace; apiKeyId: string | null };

export const WORKSPACE_QUERY = /* GraphQL */ `
  query Workspace {
    tenant {
      id
      name
      slug
    }
    auth_info {
      api_key_id
    }
  }
`;

export type WorkspaceQueryResult = {
  tenant: Workspace[];
  auth_info: { api_key_id: string | null };
};

export const SessionContext = createContext<SessionInfo | undefined>(undefined);

export function useSessionInfo(): SessionInfo {
  const info = useContext(SessionContext);
  if (!info) throw new Error("useSessionInfo outside the signed-in shell");
  return info;
}
