/**
 * Checks on a GraphQL request's shape made before any parser sees it, so that what a caller can
 * send is answered with a clear 400 rather than failing inside a library: the nesting of the
 * query text (graphql-js parses recursively: a selection or literal nested a few thousand deep
 * overflows the stack), and the JSON of `variables` / `extensions` in a GET's query string.
 */

/** Brackets (`{`, `[`, `(`) a query may nest: far beyond real queries (and beyond any depth limit). */
export const MAX_QUERY_NESTING = 128;

/**
 * The deepest bracket nesting of a GraphQL document, skipping strings, block strings and comments,
 * in one linear pass. Stops counting once `limit` is passed.
 */
export function queryNesting(query: string, limit = MAX_QUERY_NESTING): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (c === "#") {
      while (i < query.length && query[i] !== "\n" && query[i] !== "\r") i++;
    } else if (c === '"') {
      if (query.startsWith('"""', i)) {
        i += 3;
        while (i < query.length && !query.startsWith('"""', i)) i += query.startsWith('\\"""', i) ? 4 : 1;
        i += 2;
      } else {
        i++;
        while (i < query.length && query[i] !== '"' && query[i] !== "\n") i += query[i] === "\\" ? 2 : 1;
      }
    } else if (c === "{" || c === "[" || c === "(") {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === "}" || c === "]" || c === ")") {
      depth = Math.max(0, depth - 1);
    }
  }
  return deepest;
}

/** Why the query text cannot be parsed safely, or undefined. */
export function queryTextProblem(query: unknown): string | undefined {
  if (typeof query !== "string") return undefined;
  if (queryNesting(query) > MAX_QUERY_NESTING) {
    return `The query nests selections, arguments or values deeper than ${MAX_QUERY_NESTING} levels`;
  }
  return undefined;
}

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
  return queryTextProblem(params.get("query"));
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
  const tooDeep = queryTextProblem(params.query);
  return tooDeep ? { status: 400, code: "GRAPHQL_PARSE_FAILED", message: tooDeep } : undefined;
}
