import { currentToken, signOut } from "./session";
import { ApiError, post } from "./transport";

export { ApiError } from "./transport";

/** One GraphQL operation as the signed-in workspace; an ended session signs the tab out. */
export async function gql<T>(
  query: string,
  variables?: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<T> {
  const token = currentToken();
  if (!token) throw new ApiError("Not signed in", "UNAUTHENTICATED");
  try {
    return await post<T>(query, variables, token, signal);
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED" && currentToken() === token) {
      signOut(`Signed out: ${error.message.replace(/^UNAUTHENTICATED:\s*/, "")}`);
    }
    throw error;
  }
}
