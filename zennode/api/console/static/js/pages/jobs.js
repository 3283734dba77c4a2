// Jobs: filter by type, state, instance and assignee; assign, complete or fail a job by hand
// with variables (user tasks are done this way).

import { flatten, get } from "../api.js";
import { jobActions } from "../jobs.js";
import { badge, clear, fmtTime, formValues, h, instanceLink, json, pager, section, table } from "../ui.js";

const PAGE_SIZE = 20;
const STATES = ["", "active", "activated", "failed", "completed", "terminated"];

export function jobTable(rows, after) {
  return table([
    { title: "Job", render: (j) => h("span", { class: "mono" }, String(j.key)) },
    { title: "Type", render: (j) => j.type },
    { title: "Element", render: (j) => j.elementId },
    { title: "Instance", render: (j) => instanceLink(j.processInstanceKey) },
    { title: "State", render: (j) => badge(j.state) },
    { title: "Assignee", render: (j) => j.assignee || "" },
    { title: "Retries", class: "num", render: (j) => String(j.retries) },
    { title: "Worker / error", render: (j) => [j.worker || "", j.errorMessage ? h("div", { class: "muted" }, j.errorMessage) : ""] },
    { title: "Variables", render: (j) => (Object.keys(j.variables || {}).length ? json(j.variables) : "") },
    { title: "Created", render: (j) => fmtTime(j.createdAt) },
    { title: "", render: (j) => jobActions(j, after) },
  ], rows, "No job matches.");
}

export async function render(main, _arg, query) {
  const page = Number(query.get("page") || 1);
  const state = query.get("state") ?? "active";
  const jobType = query.get("jobType") || "";
  const processInstanceKey = query.get("processInstanceKey") || "";
  const assignee = query.get("assignee") || "";
  const form = h("form", {
    class: "filters", id: "job-filters",
    onsubmit: (e) => {
      e.preventDefault();
      const values = formValues(e.target);
      values.state = values.state || "";
      window.location.hash = `#/jobs?${new URLSearchParams(values)}`;
    },
  },
  h("label", {}, "Type", h("input", { name: "jobType", value: jobType, size: 20 })),
  h("label", {}, "State", h("select", { name: "state" }, STATES.map((s) => h("option", { value: s, selected: s === state }, s || "any")))),
  h("label", {}, "Instance key", h("input", { name: "processInstanceKey", value: processInstanceKey, size: 20 })),
  h("label", {}, "Assignee", h("input", { name: "assignee", value: assignee, size: 16, maxlength: 255 })),
  h("button", { type: "submit", class: "primary" }, "Filter"));
  const list = h("section", { class: "panel", id: "jobs" });
  clear(main, h("h1", {}, "Jobs"), h("p", { class: "muted" }, "User tasks and any other job can be completed or failed here by hand."), form, list);
  const go = (n) => { window.location.hash = `#/jobs?${new URLSearchParams({ ...Object.fromEntries(query), state, page: n })}`; };
  const load = () => section(list, "Jobs", () => get("/v1/jobs", { state, jobType, processInstanceKey, assignee, page, size: PAGE_SIZE }), (result) => [
    jobTable(flatten(result), load),
    pager(page, result.partitions.some((p) => p.items.length >= PAGE_SIZE), result.totalCount, go),
  ]);
  await load();
  return undefined;
}
