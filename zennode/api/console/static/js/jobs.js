// Job actions shared by the Jobs page and the Instance page: assign a job to a user, complete
// or fail it by hand, with variables (user tasks are done this way).

import { api, post } from "./api.js";
import { act, h, parseObject } from "./ui.js";

export const OPEN_JOB = new Set(["active", "activated", "failed"]);

/** Buttons (and their inline forms) for one job row; `after()` reloads the page section. */
export function jobActions(job, after) {
  if (!OPEN_JOB.has(job.state)) return "";
  const box = h("div", { class: "job-actions" });
  const open = (form) => {
    box.querySelector(".inline-form")?.remove();
    box.append(form);
  };
  box.append(
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => open(completeForm(job, after)) }, "Complete…"),
      h("button", { type: "button", class: "danger", onclick: () => open(failForm(job, after)) }, "Fail…"),
      h("button", { type: "button", onclick: () => open(assignForm(job, after)) }, "Assign…")),
  );
  return box;
}

/** Assign (or re-assign) the job to a user; the Jobs page's Assignee filter then finds it. */
function assignForm(job, after) {
  const assignee = h("input", { name: "assignee", value: job.assignee || "", required: true, maxlength: 255, size: 20 });
  const send = h("button", { type: "submit", class: "primary" }, "Assign job");
  return h("form", {
    class: "inline-form assign-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const who = assignee.value.trim();
      const ok = await act(send, `Assign job ${job.key}`, async () => {
        await post(`/v1/jobs/${job.key}/assign`, { assignee: who });
        return true;
      }, `Job ${job.key} assigned to ${who}`);
      if (ok) after();
    },
  }, h("label", { class: "field" }, "Assignee", assignee), h("div", { class: "row" }, send,
    h("button", { type: "button", onclick: (e) => e.target.closest("form").remove() }, "Cancel")));
}

function completeForm(job, after) {
  const vars = h("textarea", { name: "variables", rows: 3, placeholder: '{"approved": true}' });
  const send = h("button", { type: "submit", class: "primary" }, "Complete job");
  return h("form", {
    class: "inline-form complete-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const ok = await act(send, `Complete job ${job.key}`, async () => {
        const variables = parseObject(vars.value);
        await post(`/v1/jobs/${job.key}/complete`, { variables });
        return true;
      }, `Job ${job.key} completed`);
      if (ok) after();
    },
  }, h("label", { class: "field" }, "Variables (JSON object)", vars), h("div", { class: "row" }, send,
    h("button", { type: "button", onclick: (e) => e.target.closest("form").remove() }, "Cancel")));
}

function failForm(job, after) {
  const retries = h("input", { name: "retries", type: "number", min: 0, value: Math.max(0, (job.retries ?? 1) - 1), style: "width:6em" });
  const message = h("input", { name: "message", placeholder: "why it failed", size: 30 });
  const errorCode = h("input", { name: "errorCode", placeholder: "BPMN error code (optional)", size: 22 });
  const vars = h("textarea", { name: "variables", rows: 2, placeholder: "{}" });
  const send = h("button", { type: "submit", class: "danger" }, "Fail job");
  return h("form", {
    class: "inline-form fail-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const ok = await act(send, `Fail job ${job.key}`, async () => {
        const body = { retries: Number(retries.value), variables: parseObject(vars.value) };
        if (message.value.trim()) body.message = message.value.trim();
        if (errorCode.value.trim()) body.errorCode = errorCode.value.trim();
        await api("POST", `/v1/jobs/${job.key}/fail`, { body });
        return true;
      }, `Job ${job.key} failed${Number(retries.value) === 0 ? " (no retries left: an incident is raised)" : ""}`);
      if (ok) after();
    },
  },
  h("div", { class: "row" }, h("label", { class: "field" }, "Retries left", retries),
    h("label", { class: "field" }, "Message", message), h("label", { class: "field" }, "Error code", errorCode)),
  h("label", { class: "field" }, "Variables (JSON object)", vars),
  h("div", { class: "row" }, send, h("button", { type: "button", onclick: (e) => e.target.closest("form").remove() }, "Cancel")));
}

/** Resolve an incident with new retries for its job (when it has one). */
export async function resolveIncident(incident, retries) {
  if (incident.jobKey) await post(`/v1/jobs/${incident.jobKey}/retries`, { retries });
  await post(`/v1/incidents/${incident.key}/resolve`);
}
