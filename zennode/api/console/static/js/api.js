// The REST client of the console: one place that adds the bearer token, turns every refusal
// into an ApiError carrying the API's own message, and knows which routes this node serves.

const TOKEN_KEY = "zennode.apiToken";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get text() {
    return `${this.code ? this.code + ": " : ""}${this.message} (HTTP ${this.status})`;
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (value) => (value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY)),
};

/** True when the error says this node has no such route (an older node), not "no such key". */
export function routeMissing(err) {
  return err instanceof ApiError && ((err.status === 404 && err.message === "Not Found") || err.status === 405);
}

/** Call the API. `query` values that are empty are left out; `body` is JSON unless FormData. */
export async function api(method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { accept: "application/json" };
  const secret = token.get();
  if (secret) headers.authorization = `Bearer ${secret}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(0, "NETWORK", `the node did not answer: ${err.message}`);
  }
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent("zennode:unauthenticated"));
  }
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let code = "", message = response.statusText || "request refused";
    if (type.includes("json")) {
      const error = await response.text().then(parseJson).catch(() => ({}));
      code = error.code || "";
      message = error.message || error.detail || message;
    } else {
      message = (await response.text()).slice(0, 500) || message;
    }
    throw new ApiError(response.status, code, message);
  }
  if (response.status === 204) return null;
  return type.includes("json") ? parseJson(await response.text()) : response.text();
}

/** JSON.parse that keeps keys beyond 2^53 exact, as strings: the keys of partition 4 and up
 * (partition id << 51) do not fit a JavaScript number and would be rounded to another key.
 * The API accepts a key as a string of digits wherever it takes one. Only fields named
 * `...key`/`...Key` are kept as text, so a variable's value is shown as the number it is. */
export function parseJson(text) {
  return JSON.parse(text, (name, value, context) =>
    (typeof value === "number" && !Number.isSafeInteger(value) && /key$/i.test(name) && /^\d+$/.test(context?.source ?? "")
      ? context.source : value));
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body, query) => api("POST", path, { body, query });

let openapi = null;

/** The node's OpenAPI document (cached): which routes and query parameters it serves. */
export async function spec() {
  if (!openapi) openapi = get("/v1/openapi.json").catch((err) => { openapi = null; throw err; });
  return openapi;
}

/** The names of the query parameters of `method path` in this node's OpenAPI document. */
export async function queryParams(method, path) {
  const operation = (await spec()).paths?.[path]?.[method.toLowerCase()];
  return new Set((operation?.parameters || []).filter((p) => p.in === "query").map((p) => p.name));
}

const template = (path) => path.replace(/\{[^}]*\}/g, "{}");

/** Does this node serve `method path` (an OpenAPI path like /v1/jobs/{jobKey}; the names of
 * path parameters do not matter)? */
export async function hasRoute(method, path) {
  const paths = (await spec()).paths || {};
  const wanted = template(path);
  return Object.entries(paths).some(([p, ops]) => template(p) === wanted && ops[method.toLowerCase()]);
}

/** Flatten a per-partition page `{partitions: [{partition, items}], ...}` into one list. */
export function flatten(page) {
  return (page.partitions || []).flatMap((p) => p.items.map((item) => ({ ...item, partition: p.partition })));
}
