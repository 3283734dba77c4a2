// Small DOM helpers shared by the pages: element builder, tables, messages, pager, forms.

import { ApiError, routeMissing } from "./api.js";

/** h("div", {class: "x", onclick: fn}, child, "text", ...) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "value") el.value = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table: columns [{title, render(row) -> node|string, class}], rows -> <table>. */
export function table(columns, rows, empty = "Nothing here.") {
  columns = columns.filter(Boolean);
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, c.title)))),
    h("tbody", {}, rows.map((row) => h("tr", { dataset: row.key ? { key: String(row.key) } : {} },
      columns.map((c) => h("td", { class: c.class }, c.render(row)))))),
  );
}

export const badge = (state) => h("span", { class: `badge ${String(state).replace(/\s+/g, "-")}` }, state);

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

export const link = (href, text) => h("a", { href }, text);
export const instanceLink = (key) => link(`#/instances/${key}`, String(key));

/** Show a message at the top of the page (errors stay until closed, others fade). */
export function flash(text, kind = "ok") {
  const box = document.getElementById("messages");
  const item = h("div", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, text), h("button", { type: "button", class: "link", onclick: () => item.remove() }, "close"));
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
  while (box.children.length > 5) box.firstChild.remove();
  return item;
}

export function errorText(err) {
  return err instanceof ApiError ? err.text : String(err?.message || err);
}

export const showError = (err, what) => flash(`${what ? what + ": " : ""}${errorText(err)}`, "error");

/** Run `work` for a button: disabled meanwhile; the API's message on refusal; `done` text after. */
export async function act(button, what, work, done) {
  if (button) button.disabled = true;
  try {
    const result = await work();
    if (done) flash(done, "ok");
    return result;
  } catch (err) {
    showError(err, what);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A note in place of a section whose route this node does not serve yet. */
export const unavailable = (what) => h("p", { class: "unavailable" }, `${what} is not available on this node (its API route is missing: an older zennode).`);

/** Load a section: render(await load()) into `el`; missing routes and errors shown in place. */
export async function section(el, what, load, render) {
  try {
    clear(el, render(await load()));
  } catch (err) {
    if (routeMissing(err)) clear(el, unavailable(what));
    else clear(el, h("p", { class: "message error", role: "alert" }, `${what}: ${errorText(err)}`));
  }
}

/** Pager for the API's pages: `total` items over all partitions, `full` = another page may exist. */
export function pager(page, full, total, go) {
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "‹ Previous"),
    h("span", { class: "page-number" }, `Page ${page}`),
    h("button", { type: "button", disabled: !full, onclick: () => go(page + 1) }, "Next ›"),
    total !== undefined ? h("span", {}, `${total} in total`) : null);
}

/** Parse a JSON object typed by a person; the error says what is wrong. */
export function parseObject(text, what = "variables") {
  if (!text.trim()) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} are not valid JSON: ${err.message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what} must be a JSON object, like {"amount": 10}`);
  }
  return value;
}

export function parseValue(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`the value is not valid JSON (a string needs quotes): ${err.message}`);
  }
}

/** A JSON value: on one line when short, indented when not. */
export function json(value) {
  const line = JSON.stringify(value);
  return h("pre", { class: "json mono" }, line && line.length > 60 ? JSON.stringify(value, null, 1) : line);
}

/** Current hash route's query parameters (#/instances?state=active). */
export function routeQuery() {
  const hash = window.location.hash;
  const at = hash.indexOf("?");
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
}

/** Form fields -> an object of non-empty strings. */
export function formValues(form) {
  const out = {};
  for (const [name, value] of new FormData(form).entries()) if (String(value).trim()) out[name] = String(value).trim();
  return out;
}

/** Render the current route again (after an action changed what it shows). */
export const rerender = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
