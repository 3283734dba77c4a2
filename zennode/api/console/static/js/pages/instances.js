// Instances: search with the API's filters (those this node serves), paged per partition
// (the partitions' pages merged in the asked order); each row's state at a glance.

import { flatten, get, queryParams } from "../api.js";
import { badge, clear, fmtTime, formValues, h, instanceLink, link, pager, section, table } from "../ui.js";

const PAGE_SIZE = 20;
const FILTERS = [
  ["state", "State", ["", "active", "completed", "terminated", "failed"]],
  ["bpmnProcessId", "BPMN process id"],
  ["processDefinitionKey", "Definition key"],
  ["businessKey", "Business key"],
  ["activityId", "Waiting at element"],
  ["parentProcessInstanceKey", "Called by instance"],
  ["createdFrom", "Created from", "datetime-local"],
  ["createdTo", "Created to", "datetime-local"],
  ["sortBy", "Sort by", ["", "createdAt", "key", "state"]],
  ["sortOrder", "Order", ["", "desc", "asc"]],
];

function field([name, label, kind], value, served) {
  const disabled = !served.has(name);
  const title = disabled ? "this node's API does not filter by this yet" : undefined;
  let input;
  if (Array.isArray(kind)) {
    input = h("select", { name, disabled, title }, kind.map((o) => h("option", { value: o, selected: o === value }, o || "any")));
  } else {
    const time = kind === "datetime-local"; // to the second (step 1), in the browser's time zone
    input = h("input", { name, type: kind || "text", value: time ? toLocal(value) : value, step: time ? 1 : undefined, disabled, title, size: 16 });
  }
  return h("label", { class: disabled ? "muted" : "" }, label, input);
}

/** An ISO time -> the value of a datetime-local input, in the browser's time zone (the zone
 * the person typed it in: `new Date("2026-12-05T10:00")` reads it as local time). */
function toLocal(iso) {
  const d = new Date(iso || NaN);
  if (isNaN(d)) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

const STATE_ORDER = ["active", "completed", "failed", "terminated"]; // the API's order for sortBy=state

/** Compare two instances as the API orders them (`sortBy`, then key), for merging the
 * partitions' pages into one list in that order. */
function comparator(sortBy, sortOrder) {
  const byKey = (a, b) => {
    const x = String(a.processInstanceKey), y = String(b.processInstanceKey);
    return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
  };
  const primary = {
    createdAt: (a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt),
    state: (a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state),
  }[sortBy];
  const sign = sortOrder === "desc" ? -1 : 1;
  return (a, b) => sign * ((primary ? primary(a, b) : 0) || byKey(a, b));
}

export async function render(main, _arg, query) {
  const served = await queryParams("get", "/v1/process-instances").catch(() => new Set());
  const page = Number(query.get("page") || 1);
  const filters = {};
  for (const [name] of FILTERS) if (query.get(name) && served.has(name)) filters[name] = query.get(name);
  const form = h("form", {
    class: "filters", id: "instance-search",
    onsubmit: (e) => {
      e.preventDefault();
      const values = formValues(e.target);
      // the inputs are to the second: "to" takes in the whole of its last second
      if (values.createdFrom) values.createdFrom = new Date(values.createdFrom).toISOString();
      if (values.createdTo) values.createdTo = new Date(new Date(values.createdTo).getTime() + 999).toISOString();
      window.location.hash = `#/instances?${new URLSearchParams(values)}`;
    },
  }, FILTERS.map((f) => field(f, query.get(f[0]) || "", served)), h("button", { type: "submit", class: "primary" }, "Search"),
  h("a", { href: "#/instances" }, "reset"));
  const ignored = FILTERS.filter(([name]) => query.get(name) && !served.has(name)).map(([, label]) => label);
  const list = h("section", { class: "panel", id: "instances" });
  clear(main, h("h1", {}, "Process instances"), form,
    ignored.length ? h("p", { class: "unavailable" }, `Not applied (this node's API has no such filter yet): ${ignored.join(", ")}`) : null,
    list);
  const go = (n) => { window.location.hash = `#/instances?${new URLSearchParams({ ...Object.fromEntries(query), page: n })}`; };
  await section(list, "Instances", () => get("/v1/process-instances", { ...filters, page, size: PAGE_SIZE }), (result) => {
    // each partition's page is in the asked order; merged, the whole page is too
    const rows = flatten(result).map((i) => ({ ...i, key: i.processInstanceKey }))
      .sort(comparator(filters.sortBy || "key", filters.sortOrder || "asc"));
    return [
      table([
        { title: "Instance", render: (i) => instanceLink(i.processInstanceKey) },
        { title: "Process", render: (i) => link(`#/processes/${i.processDefinitionKey}`, `${i.bpmnProcessId} v${i.version ?? "?"}`) },
        { title: "State", render: (i) => [badge(i.state), i.incidents ? [" ", badge(`${i.incidents} incident${i.incidents > 1 ? "s" : ""}`)] : ""] },
        { title: "Business key", render: (i) => i.businessKey || "" },
        { title: "Called by", render: (i) => (i.parentProcessInstanceKey ? instanceLink(i.parentProcessInstanceKey) : "") },
        { title: "Waiting at", render: (i) => (i.activeElementInstances || []).map((e) => e.elementId).join(", ") },
        { title: "Created", render: (i) => fmtTime(i.createdAt) },
        { title: "Ended", render: (i) => fmtTime(i.endedAt) },
      ], rows, "No instance matches."),
      pager(page, result.partitions.some((p) => p.items.length >= PAGE_SIZE), result.totalCount, go),
    ];
  });
  return undefined;
}
