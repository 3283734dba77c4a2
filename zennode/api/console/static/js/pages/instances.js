// Instances: search with the API's filters (those this node serves), paged per partition;
// each row's state at a glance.

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
    input = h("input", { name, type: kind || "text", value: kind === "datetime-local" ? toLocal(value) : value, disabled, title, size: 16 });
  }
  return h("label", { class: disabled ? "muted" : "" }, label, input);
}

const toLocal = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16) : "");

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
      for (const name of ["createdFrom", "createdTo"]) if (values[name]) values[name] = new Date(values[name]).toISOString();
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
    const rows = flatten(result).map((i) => ({ ...i, key: i.processInstanceKey }));
    return [
      table([
        { title: "Instance", render: (i) => instanceLink(i.processInstanceKey) },
        { title: "Process", render: (i) => link(`#/processes/${i.processDefinitionKey}`, `${i.bpmnProcessId} v${i.version ?? "?"}`) },
        { title: "State", render: (i) => [badge(i.state), i.incidents ? [" ", badge(`${i.incidents} incident${i.incidents > 1 ? "s" : ""}`)] : ""] },
        { title: "Business key", render: (i) => i.businessKey || "" },
        { title: "Waiting at", render: (i) => (i.activeElementInstances || []).map((e) => e.elementId).join(", ") },
        { title: "Created", render: (i) => fmtTime(i.createdAt) },
        { title: "Ended", render: (i) => fmtTime(i.endedAt) },
      ], rows, "No instance matches."),
      pager(page, result.partitions.some((p) => p.items.length >= PAGE_SIZE), result.totalCount, go),
    ];
  });
  return undefined;
}
