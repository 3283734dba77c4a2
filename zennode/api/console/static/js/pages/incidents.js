// Incidents: open incidents across partitions; resolve with new retries for the job.

import { flatten, get } from "../api.js";
import { resolveIncident } from "../jobs.js";
import { act, badge, clear, fmtTime, h, instanceLink, pager, section, table } from "../ui.js";

const PAGE_SIZE = 20;

/** The resolve control of one incident: retries for its job, then resolve. */
export function resolveControl(incident, after) {
  if (incident.state !== "active") return "";
  const retries = h("input", { type: "number", min: 1, value: 1, name: "retries", style: "width:4.5em", title: "retries for the job" });
  const button = h("button", {
    type: "button", class: "primary resolve",
    onclick: async () => {
      const ok = await act(button, `Resolve incident ${incident.key}`, async () => {
        await resolveIncident(incident, Number(retries.value));
        return true;
      }, `Incident ${incident.key} resolved`);
      if (ok) after();
    },
  }, "Resolve");
  return h("div", { class: "row" }, incident.jobKey ? h("label", { class: "field" }, "Retries", retries) : "", button);
}

export function incidentTable(rows, after) {
  return table([
    { title: "Incident", render: (i) => h("span", { class: "mono" }, String(i.key)) },
    { title: "Instance", render: (i) => instanceLink(i.processInstanceKey) },
    { title: "Process", render: (i) => i.bpmnProcessId || "" },
    { title: "Element", render: (i) => i.elementId || "" },
    { title: "Type", render: (i) => i.errorType || "" },
    { title: "Message", render: (i) => h("span", { class: "incident-message" }, i.message) },
    { title: "State", render: (i) => badge(i.state) },
    { title: "Created", render: (i) => fmtTime(i.createdAt) },
    { title: "", render: (i) => resolveControl(i, after) },
  ], rows, "No incident.");
}

export async function render(main, _arg, query) {
  const page = Number(query.get("page") || 1);
  const state = query.get("state") ?? "active";
  const list = h("section", { class: "panel", id: "incidents" });
  const choose = h("select", {
    name: "state",
    onchange: (e) => { window.location.hash = `#/incidents?state=${e.target.value}`; },
  }, ["active", "resolved", ""].map((s) => h("option", { value: s, selected: s === state }, s || "any")));
  clear(main, h("h1", {}, "Incidents"), h("form", { class: "filters" }, h("label", {}, "State", choose)), list);
  const go = (n) => { window.location.hash = `#/incidents?state=${state}&page=${n}`; };
  const load = () => section(list, "Incidents", () => get("/v1/incidents", { state, page, size: PAGE_SIZE }), (result) => [
    incidentTable(flatten(result), load),
    pager(page, result.partitions.some((p) => p.items.length >= PAGE_SIZE), result.totalCount, go),
  ]);
  await load();
  return undefined;
}
