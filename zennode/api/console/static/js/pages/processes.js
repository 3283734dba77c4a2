// Processes: definitions and their versions, deploy (.bpmn / .dmn by file chooser or drop),
// and one definition: its diagram with per-element counts, versions, start an instance.

import { get, post, spec } from "../api.js";
import { Diagram } from "../diagram.js";
import {
  act, badge, clear, errorText, fmtTime, formValues, h, link, pager, parseObject, rerender, section, table,
} from "../ui.js";

const PAGE_SIZE = 20;
const recent = []; // the last deploy results, shown again when the list re-renders

export async function render(main, key, query, current) {
  if (key) return renderDefinition(main, key, current);
  const page = Number(query.get("page") || 1);
  const processId = query.get("bpmnProcessId") || "";
  const list = h("section", { class: "panel", id: "definitions" });
  const decisions = h("section", { class: "panel", id: "decisions" });
  const filter = h("form", {
    class: "filters",
    onsubmit: (e) => {
      e.preventDefault();
      const v = formValues(e.target);
      window.location.hash = `#/processes?${new URLSearchParams(v)}`;
    },
  }, h("label", {}, "BPMN process id", h("input", { name: "bpmnProcessId", value: processId })),
  h("button", { type: "submit" }, "Filter"));
  clear(main, h("h1", {}, "Processes"), deployPanel(rerender),
    h("h2", {}, "Process definitions"), filter, list, h("h2", {}, "Decisions"), decisions);
  const go = (n) => { window.location.hash = `#/processes?${new URLSearchParams({ ...(processId && { bpmnProcessId: processId }), page: n })}`; };
  const load = async () => {
    const result = await get("/v1/process-definitions", { page, size: PAGE_SIZE, bpmnProcessId: processId });
    result.counts = await get("/v1/process-definitions/statistics").then(definitionCounts).catch(() => null);
    return result;
  };
  await section(list, "Process definitions", load,
    (result) => [
      table([
        { title: "Process id", render: (d) => link(`#/processes/${d.processDefinitionKey}`, d.bpmnProcessId) },
        { title: "Name", render: (d) => d.name || "" },
        { title: "Version", class: "num", render: (d) => String(d.version) },
        { title: "Key", render: (d) => h("span", { class: "mono" }, String(d.processDefinitionKey)) },
        { title: "Resource", render: (d) => d.resourceName || "" },
        { title: "Deployed", render: (d) => fmtTime(d.deployedAt) },
        result.counts ? { title: "Instances", render: (d) => instanceCounts(result.counts.get(String(d.processDefinitionKey))) } : null,
        { title: "", render: (d) => link(`#/instances?processDefinitionKey=${d.processDefinitionKey}`, "instances") },
      ], result.items, "No process deployed yet: drop a .bpmn file above."),
      pager(page, page * PAGE_SIZE < result.totalCount, result.totalCount, go),
    ]);
  await section(decisions, "Decisions", () => get("/v1/decision-definitions", { page: 1, size: PAGE_SIZE }),
    (result) => table([
      { title: "Decision id", render: (d) => d.decisionId },
      { title: "Name", render: (d) => d.decisionName },
      { title: "Version", class: "num", render: (d) => String(d.version) },
      { title: "Requirements", render: (d) => d.decisionRequirementsId },
      { title: "Deployed", render: (d) => fmtTime(d.deployedAt) },
    ], result.items, "No decisions deployed."));
  return undefined;
}

/** The deploy box: a file chooser and a drop zone; .dmn goes to the decisions route. */
function deployPanel(after) {
  const input = h("input", { type: "file", id: "deploy-file", accept: ".bpmn,.xml,.dmn", multiple: true });
  const result = h("div", { id: "deploy-result" }, recent.map(deployedNote));
  async function deploy(files) {
    let any = false;
    for (const file of files) {
      const isDmn = file.name.toLowerCase().endsWith(".dmn");
      const body = new FormData();
      body.append("resource", file, file.name);
      const answer = await act(null, `Deploy ${file.name}`,
        () => post(isDmn ? "/v1/decision-definitions" : "/v1/process-definitions", body));
      if (!answer) continue;
      recent.unshift({ file: file.name, isDmn, answer });
      recent.splice(5);
      any = true;
    }
    if (any) after();
  }
  input.addEventListener("change", () => deploy([...input.files]).then(() => { input.value = ""; }));
  const drop = h("div", { class: "drop", id: "drop-zone" }, "Drop .bpmn or .dmn files here, or ", input);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    deploy([...e.dataTransfer.files]);
  });
  return h("section", { class: "panel" }, h("h2", {}, "Deploy"), drop, result);
}

function deployedNote({ file, isDmn, answer }) {
  const what = isDmn
    ? `${answer.decisionRequirementsId} version ${answer.version} (${answer.decisions.length} decisions)`
    : `${answer.bpmnProcessId} version ${answer.version}`;
  return h("div", { class: "message ok deployed" }, `Deployed ${file}: ${what}`,
    isDmn ? "" : [" · ", link(`#/processes/${answer.processDefinitionKey}`, "open")],
    ...(answer.warnings || []).map((w) => h("div", { class: "muted" }, `warning: ${w}`)));
}

/** `/v1/process-definitions/statistics` -> Map(definition key -> {state: count}). */
export function definitionCounts(answer) {
  const list = Array.isArray(answer) ? answer : answer.items || answer.definitions || answer.statistics || [];
  const out = new Map();
  for (const row of list) {
    const key = String(row.processDefinitionKey ?? row.key);
    const counts = row.instances && typeof row.instances === "object" ? row.instances : row.states || row.counts || row;
    out.set(key, counts);
  }
  return out;
}

function instanceCounts(counts) {
  if (!counts) return "";
  return ["active", "failed", "completed", "terminated"].filter((s) => Number(counts[s]) > 0)
    .map((s) => [badge(`${counts[s]} ${s}`), " "]);
}

/** Statistics answers -> [{elementId, active, completed, terminated, incidents}]. */
export function elementStats(answer) {
  const list = Array.isArray(answer) ? answer
    : answer.items || answer.elements || answer.elementStatistics || answer.statistics
      || Object.entries(answer).filter(([, v]) => v && typeof v === "object").map(([elementId, v]) => ({ elementId, ...v }));
  return list.map((s) => ({
    elementId: s.elementId ?? s.id,
    active: s.active ?? 0,
    completed: s.completed ?? 0,
    terminated: s.terminated ?? s.canceled ?? 0,
    incidents: s.incidents ?? s.incident ?? 0,
  }));
}

async function renderDefinition(main, key, current) {
  const definition = await get(`/v1/process-definitions/${key}`);
  if (!current()) return undefined;
  const canvas = h("div", { class: "diagram", id: "diagram" });
  const stats = h("div", { id: "statistics" });
  const versions = h("section", { class: "panel", id: "versions" });
  clear(main,
    h("h1", {}, `${definition.name || definition.bpmnProcessId} `, badge(`version ${definition.version}`)),
    h("p", { class: "muted" }, `Process id ${definition.bpmnProcessId} · key `, h("span", { class: "mono" }, key),
      ` · deployed ${fmtTime(definition.deployedAt)} · `, link(`#/instances?processDefinitionKey=${key}`, "its instances")),
    canvas, h("div", { class: "legend" }, "Badges: blue = active tokens, red = open incidents, green = completed."),
    stats, h("div", { class: "grid2" }, startPanel(definition), versions));
  const diagram = new Diagram(canvas);
  await diagram.show(definition.xml);
  await section(stats, "Element statistics", () => get(`/v1/process-definitions/${key}/statistics`), (answer) => {
    const rows = elementStats(answer);
    for (const s of rows) {
      diagram.counts(s.elementId, { active: s.active, incidents: s.incidents, completed: s.completed });
      if (s.incidents > 0) diagram.mark(s.elementId, "zn-incident");
      else if (s.active > 0) diagram.mark(s.elementId, "zn-active");
    }
    return h("details", {}, h("summary", {}, "Per-element counts"), table([
      { title: "Element", render: (s) => s.elementId },
      { title: "Active", class: "num", render: (s) => String(s.active) },
      { title: "Completed", class: "num", render: (s) => String(s.completed) },
      { title: "Terminated", class: "num", render: (s) => String(s.terminated) },
      { title: "Incidents", class: "num", render: (s) => String(s.incidents) },
    ], rows, "No instance has run yet."));
  });
  await section(versions, "Versions", () => get("/v1/process-definitions", { bpmnProcessId: definition.bpmnProcessId, size: 100 }),
    (result) => [h("h2", {}, "Versions"), table([
      { title: "Version", render: (d) => (String(d.processDefinitionKey) === String(key) ? h("strong", {}, `${d.version} (this)`) : link(`#/processes/${d.processDefinitionKey}`, String(d.version))) },
      { title: "Key", render: (d) => h("span", { class: "mono" }, String(d.processDefinitionKey)) },
      { title: "Deployed", render: (d) => fmtTime(d.deployedAt) },
    ], [...result.items].sort((a, b) => b.version - a.version))]);
  return () => diagram.destroy();
}

function startPanel(definition) {
  const vars = h("textarea", { name: "variables", rows: 4, placeholder: '{"orderId": "A-1", "amount": 120}' });
  const businessKey = h("input", { name: "businessKey", placeholder: "optional", size: 24 });
  const send = h("button", { type: "submit", class: "primary" }, "Start instance");
  const out = h("div", { id: "start-result" });
  const form = h("form", {
    id: "start-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const started = await act(send, "Start instance", async () => {
        const body = { processDefinitionKey: definition.processDefinitionKey, variables: parseObject(vars.value) };
        if (businessKey.value.trim()) body.businessKey = businessKey.value.trim();
        return post("/v1/process-instances", body);
      });
      if (started) {
        out.prepend(h("div", { class: "message ok started" }, "Started instance ",
          link(`#/instances/${started.processInstanceKey}`, String(started.processInstanceKey))));
      }
    },
  }, h("label", { class: "field" }, "Variables (JSON object)", vars), h("div", { class: "row" }, send));
  // businessKey only where the node accepts it (the request model forbids unknown fields)
  spec().then((doc) => {
    const schema = doc.components?.schemas?.CreateInstanceRequest?.properties || {};
    if ("businessKey" in schema) form.querySelector(".row").before(h("label", { class: "field" }, "Business key", businessKey));
  }).catch((err) => out.append(h("p", { class: "muted" }, errorText(err))));
  return h("section", { class: "panel" }, h("h2", {}, "Start an instance"), form, out);
}
