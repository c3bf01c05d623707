/**
 * Checks on a GraphQL request's shape made before any parser sees it, so that what a caller can
 * send is answered with a clear 400 rather than failing inside a library: the JSON of
 * `variables` / `extensions` in a GET's query string, and the body's fields. (A query's nesting
 * is limited while parsing, on every path: functions/api/src/armor.ts.)
 */

/**
 * The problem with a GET's (or a form POST's) `query`, `variables` and `extensions` parameters,
 * or undefined: each of `variables` and `extensions`, when given, must be a JSON object.
 */
export function searchParamsProblem(search: string): string | undefined {
  const params = new URLSearchParams(search);
  for (const name of ["variables", "extensions"]) {
    const text = params.get(name);
    if (!text) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return `"${name}" is not valid JSON: expected a JSON object`;
    }
    if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
      return `"${name}" must be a JSON object`;
    }
  }
  return undefined;
}

export type ShapeProblem = { status: number; code: "BAD_REQUEST" | "GRAPHQL_PARSE_FAILED"; message: string };

/**
 * What is wrong with a request's HTTP shape before its body is read as GraphQL: malformed
 * `variables` / `extensions` in a query string or form, an unsupported content type, a GET
 * without a query (browsers get GraphiQL).
 */
export function httpShapeProblem(request: {
  method: string;
  rawQueryString: string | undefined;
  contentType: string;
  accept: string;
  body: string | undefined;
}): ShapeProblem | undefined {
  const { method, rawQueryString, contentType, body } = request;
  const searchProblem =
    (rawQueryString ? searchParamsProblem(rawQueryString) : undefined) ??
    (method === "POST" && body !== undefined && contentType.includes("application/x-www-form-urlencoded")
      ? searchParamsProblem(body)
      : undefined);
  if (searchProblem) return { status: 400, code: "BAD_REQUEST", message: searchProblem };
  if (method === "POST" && !/json|graphql|x-www-form-urlencoded|multipart\/form-data/.test(contentType)) {
    return {
      status: 400,
      code: "BAD_REQUEST",
      message: `Unsupported content type "${contentType.slice(0, 100)}": send application/json`,
    };
  }
  if (
    method === "GET" &&
    !new URLSearchParams(rawQueryString ?? "").get("query") &&
    !request.accept.includes("text/html")
  ) {
    return { status: 400, code: "BAD_REQUEST", message: 'A GET needs a "query" parameter' };
  }
  return undefined;
}

/** What is wrong with a JSON body's GraphQL parameters (after `variables` are decoded), or undefined. */
export function jsonParamsProblem(params: {
  query?: unknown;
  operationName?: unknown;
}): ShapeProblem | undefined {
  if (typeof params.query !== "string" || params.query.trim() === "") {
    return {
      status: 400,
      code: "BAD_REQUEST",
      message: 'The request body needs a "query" string holding a GraphQL document',
    };
  }
  const operationName = params.operationName;
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    return { status: 400, code: "BAD_REQUEST", message: '"operationName" must be a string' };
  }
  return undefined;
}
