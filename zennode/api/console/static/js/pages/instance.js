// One instance: the diagram (active elements highlighted, incident elements marked), the path
// taken, variables per scope (edit, add, delete), jobs, incidents (retry and resolve), cancel,
// and modification (terminate an element instance, start at an element).

import { api, flatten, get, hasRoute, post } from "../api.js";
import { Diagram } from "../diagram.js";
import {
  act, badge, clear, fmtTime, h, instanceLink, json, link, pager, parseObject, parseValue, rerender, section, table, unavailable,
} from "../ui.js";
import { incidentTable } from "./incidents.js";
import { jobTable } from "./jobs.js";

const OPEN = new Set(["active", "failed"]);
const WATCH_MS = 3000; // an open instance is re-read this often; the page redraws on a change

/** What the page shows of an instance that can change by itself (state, tokens, incidents). */
const signature = (i) => JSON.stringify([i.state, i.incidents, i.activeElementInstances.map((e) => e.elementInstanceKey).sort()]);

/** True while a person is typing in the page (a redraw would lose it). */
const editing = () => Boolean(document.querySelector("main .inline-form textarea:focus, main .inline-form input:focus, main form.row input, main .job-actions form"));
const listOf = (answer) => (Array.isArray(answer) ? answer : answer.items || (answer.partitions ? flatten(answer) : []));

export async function render(main, key, _query, current) {
  const instance = await get(`/v1/process-instances/${key}`);
  if (!current()) return undefined;
  const open = OPEN.has(instance.state);
  const canvas = h("div", { class: "diagram", id: "diagram" });
  const incidentsEl = h("section", { class: "panel", id: "instance-incidents" });
  const jobsEl = h("section", { class: "panel", id: "instance-jobs" });
  const historyEl = h("section", { class: "panel", id: "history" });
  const childrenEl = h("div", { id: "children" });
  const subscriptionsEl = h("div", { id: "subscriptions" });
  const modifyEl = h("section", { class: "panel", id: "modify" });
  const cancel = h("button", {
    type: "button", class: "danger", id: "cancel-instance",
    onclick: async () => {
      if (!window.confirm(`Cancel instance ${key}? Its jobs are terminated.`)) return;
      const ok = await act(cancel, "Cancel instance", () => post(`/v1/process-instances/${key}/cancel`).then(() => true), `Instance ${key} cancelled`);
      if (ok) rerender();
    },
  }, "Cancel instance");
  clear(main,
    h("h1", {}, `Instance ${key} `, h("span", { id: "instance-state" }, badge(instance.state)),
      instance.incidents ? [" ", badge(`${instance.incidents} incident${instance.incidents > 1 ? "s" : ""}`)] : ""),
    h("p", { class: "muted" }, "Process ", link(`#/processes/${instance.processDefinitionKey}`, `${instance.bpmnProcessId} version ${instance.version ?? "?"}`),
      ` · created ${fmtTime(instance.createdAt)}`, instance.endedAt ? ` · ended ${fmtTime(instance.endedAt)}` : "",
      instance.businessKey ? ` · business key ${instance.businessKey}` : "",
      instance.parentProcessInstanceKey ? [" · called by ", instanceLink(instance.parentProcessInstanceKey)] : ""),
    h("div", { class: "row" }, open ? cancel : "", h("button", { type: "button", onclick: rerender }, "Refresh")),
    h("h2", {}, "Diagram"), canvas,
    h("div", { class: "legend" }, "Blue: active now · red: open incident · green: completed and the flows taken · grey dashed: terminated (from the history). Click an element to start a token there."),
    h("h2", {}, "Incidents"), incidentsEl,
    h("h2", {}, "Jobs"), jobsEl,
    h("h2", {}, "Variables"), variablesPanel(instance, open),
    open ? [h("h2", {}, "Modify"), modifyEl] : "",
    h("h2", {}, "History (path taken)"), historyEl, childrenEl, subscriptionsEl);

  const definition = await get(`/v1/process-definitions/${instance.processDefinitionKey}`);
  const diagram = new Diagram(canvas);
  await diagram.show(definition.xml);
  for (const element of instance.activeElementInstances) diagram.mark(element.elementId, "zn-active");

  let picked = null;
  const modify = open ? modifyPanel(instance, definition.xml, () => picked) : null;
  if (modify) clear(modifyEl, await modify);
  diagram.onClick((elementId) => {
    if (picked) diagram.viewer.get("canvas").removeMarker(picked, "zn-selected");
    picked = elementId;
    diagram.viewer.get("canvas").addMarker(elementId, "zn-selected");
    const target = document.getElementById("start-at-element");
    if (target) target.value = elementId;
  });

  await Promise.all([
    section(incidentsEl, "Incidents", () => get("/v1/incidents", { processInstanceKey: key, size: 100 }), (answer) => {
      const rows = flatten(answer);
      for (const incident of rows) if (incident.state === "active" && incident.elementId) diagram.mark(incident.elementId, "zn-incident");
      return incidentTable(rows, rerender);
    }),
    section(jobsEl, "Jobs", () => get("/v1/jobs", { processInstanceKey: key, size: 100 }), (answer) => jobTable(flatten(answer), rerender)),
    historySection(historyEl, key, diagram),
    optionalList(childrenEl, "Called instances", `/v1/process-instances/${key}/child-processes`, [
      { title: "Instance", render: (c) => instanceLink(c.processInstanceKey) },
      { title: "Process", render: (c) => c.bpmnProcessId || "" },
      { title: "State", render: (c) => badge(c.state || "") },
    ]),
    optionalList(subscriptionsEl, "Waiting for (messages, timers, signals)", `/v1/process-instances/${key}/event-subscriptions`, [
      { title: "Kind", render: (s) => s.type || s.kind || s.eventType || "" },
      { title: "Element", render: (s) => s.elementId || "" },
      { title: "Name / due", render: (s) => s.messageName || s.signalName || s.name || fmtTime(s.dueAt || s.dueDate) || "" },
      { title: "Correlation key", render: (s) => s.correlationKey ?? "" },
    ]),
  ]);
  // watch an open instance: redraw when it moved on by itself (a worker, a timer, a message)
  const seen = signature(instance);
  const timer = open ? setInterval(async () => {
    if (!current() || editing()) return;
    const now = await get(`/v1/process-instances/${key}`).catch(() => null);
    if (now && current() && signature(now) !== seen) rerender();
  }, WATCH_MS) : null;
  return () => {
    if (timer) clearInterval(timer);
    diagram.destroy();
  };
}

const NOT_FLOW_NODES = new Set(["sequenceFlow", "process", "laneSet", "lane", "extensionElements", "documentation",
  "incoming", "outgoing", "textAnnotation", "association", "dataObject", "dataObjectReference", "dataStoreReference",
  "ioSpecification", "property", "dataInputAssociation", "dataOutputAssociation", "multiInstanceLoopCharacteristics",
  "standardLoopCharacteristics", "conditionExpression", "group", "category"]);

/** The ids of the flow nodes in a BPMN document (read from the XML: works without a layout). */
function flowNodeIds(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const BPMN = doc.documentElement.namespaceURI;
  const ids = [];
  for (const process of doc.getElementsByTagNameNS(BPMN, "process")) {
    for (const el of process.getElementsByTagNameNS(BPMN, "*")) {
      if (el.id && !NOT_FLOW_NODES.has(el.localName) && !el.localName.endsWith("EventDefinition")) ids.push(el.id);
    }
  }
  return ids.sort();
}

const HISTORY_PAGE = 100;

/** The path taken: every element instance in start order, paged; completed ones outlined. */
function historySection(el, key, diagram, page = 1) {
  return section(el, "History", () => get(`/v1/process-instances/${key}/history`, { page, size: HISTORY_PAGE }), (answer) => {
    const rows = listOf(answer);
    const completed = new Set(rows.filter((s) => s.state === "completed").map((s) => s.elementId));
    for (const id of completed) diagram.mark(id, "zn-done");
    for (const step of rows) if (step.state === "terminated" && !completed.has(step.elementId)) diagram.mark(step.elementId, "zn-terminated");
    diagram.markPath(completed, new Set(rows.map((s) => s.elementId)));
    return [
      table([
        { title: "Element", render: (s) => s.elementId },
        { title: "Type", render: (s) => s.elementType || "" },
        { title: "State", render: (s) => badge(s.state || "") },
        { title: "Started", render: (s) => fmtTime(s.startedAt || s.createdAt) },
        { title: "Ended", render: (s) => fmtTime(s.endedAt || s.completedAt) },
      ], rows, "No element has run yet."),
      answer.truncated ? h("p", { class: "muted" }, "The history stops here: the instance ran more element instances than are recorded.") : "",
      answer.totalCount > HISTORY_PAGE ? pager(page, page * HISTORY_PAGE < answer.totalCount, answer.totalCount, (n) => historySection(el, key, diagram, n)) : "",
    ];
  });
}

/** A list shown only when it has rows; nothing when the node lacks the route. */
async function optionalList(el, title, path, columns) {
  try {
    const rows = listOf(await get(path));
    if (rows.length) clear(el, h("h2", {}, title), h("section", { class: "panel" }, table(columns, rows)));
  } catch {
    clear(el);
  }
}

function variablesPanel(instance, open) {
  const key = instance.processInstanceKey;
  const scopes = [{ label: `Process (instance ${key})`, elementInstanceKey: null, variables: instance.variables || {} }];
  for (const element of instance.activeElementInstances) {
    scopes.push({ label: `${element.elementId} (element instance ${element.elementInstanceKey})`, elementInstanceKey: element.elementInstanceKey, variables: element.variables || {} });
  }
  const setVariable = (scope, name, value) => api("PATCH", `/v1/process-instances/${key}/variables`, {
    body: scope.elementInstanceKey ? { variables: { [name]: value }, elementInstanceKey: scope.elementInstanceKey, local: true } : { variables: { [name]: value } },
  });
  const deleteRoute = hasRoute("delete", "/v1/process-instances/{processInstanceKey}/variables/{name}").catch(() => false);
  const panel = h("section", { class: "panel", id: "variables" });
  for (const scope of scopes) {
    const names = Object.keys(scope.variables).sort();
    if (!names.length && scope.elementInstanceKey) continue;
    panel.append(h("h3", { class: "muted" }, scope.label), table([
      { title: "Name", render: (name) => h("span", { class: "mono var-name" }, name) },
      { title: "Value", render: (name) => json(scope.variables[name]) },
      { title: "", render: (name) => (open ? variableActions(scope, name, setVariable, deleteRoute, key) : "") },
    ], names, "No variables."));
  }
  if (open) panel.append(addVariableForm(scopes, setVariable));
  return panel;
}

function variableActions(scope, name, setVariable, deleteRoute, key) {
  const box = h("div", { class: "row" });
  const edit = h("button", {
    type: "button",
    onclick: () => {
      const input = h("input", { class: "mono", size: 30, value: JSON.stringify(scope.variables[name]) });
      const save = h("button", { type: "submit", class: "primary" }, "Save");
      box.replaceChildren(h("form", {
        class: "row",
        onsubmit: async (e) => {
          e.preventDefault();
          const ok = await act(save, `Set ${name}`, () => setVariable(scope, name, parseValue(input.value)).then(() => true), `${name} updated`);
          if (ok) rerender();
        },
      }, input, save, h("button", { type: "button", onclick: rerender }, "Cancel")));
      input.focus();
    },
  }, "Edit");
  box.append(edit);
  {
    const remove = h("button", {
      type: "button", class: "danger",
      onclick: async () => {
        if (!(await deleteRoute)) {
          box.append(unavailable("Deleting a variable"));
          return;
        }
        const query = scope.elementInstanceKey ? { elementInstanceKey: scope.elementInstanceKey } : undefined;
        const ok = await act(remove, `Delete ${name}`, () => api("DELETE", `/v1/process-instances/${key}/variables/${encodeURIComponent(name)}`, { query }).then(() => true), `${name} deleted`);
        if (ok) rerender();
      },
    }, "Delete");
    box.append(remove);
  }
  return box;
}

function addVariableForm(scopes, setVariable) {
  const scope = h("select", { name: "scope" }, scopes.map((s, i) => h("option", { value: i }, s.label)));
  const name = h("input", { name: "name", placeholder: "name", size: 16 });
  const value = h("input", { name: "value", class: "mono", placeholder: '"text", 12, {"a": 1}', size: 26 });
  const add = h("button", { type: "submit", class: "primary" }, "Add / set");
  return h("form", {
    class: "inline-form", id: "add-variable",
    onsubmit: async (e) => {
      e.preventDefault();
      const ok = await act(add, "Set variable", async () => {
        if (!name.value.trim()) throw new Error("give the variable a name");
        await setVariable(scopes[Number(scope.value)], name.value.trim(), parseValue(value.value));
        return true;
      }, `${name.value.trim()} set`);
      if (ok) rerender();
    },
  }, h("div", { class: "row" }, h("label", { class: "field" }, "Scope", scope), h("label", { class: "field" }, "Name", name),
    h("label", { class: "field" }, "Value (JSON)", value), add));
}

/** Terminate element instances or start a token at an element (one modification command). */
async function modifyPanel(instance, xml, picked) {
  if (!(await hasRoute("post", "/v1/modify/process-instance").catch(() => false))) return unavailable("Instance modification");
  const key = instance.processInstanceKey;
  const send = (body, what, button) => act(button, what, () => post("/v1/modify/process-instance", { processInstanceKey: key, ...body }).then(() => true), `${what}: done`)
    .then((ok) => ok && rerender());
  const elementIds = flowNodeIds(xml);
  const target = h("select", { id: "start-at-element", name: "elementId" }, elementIds.map((id) => h("option", { value: id, selected: id === picked() }, id)));
  const vars = h("textarea", { rows: 2, name: "variables", placeholder: "{}" });
  const start = h("button", { type: "submit", class: "primary" }, "Start token here");
  return [
    table([
      { title: "Active element", render: (e) => e.elementId },
      { title: "Element instance", render: (e) => h("span", { class: "mono" }, String(e.elementInstanceKey)) },
      { title: "", render: (e) => {
        const b = h("button", { type: "button", class: "danger terminate", onclick: () => send({ elementInstancesToTerminate: [{ elementInstanceKey: e.elementInstanceKey }] }, `Terminate ${e.elementId}`, b) }, "Terminate");
        return b;
      } },
    ], instance.activeElementInstances, "No active element."),
    h("form", {
      class: "inline-form", id: "start-at",
      onsubmit: (e) => {
        e.preventDefault();
        let variables;
        try { variables = parseObject(vars.value); } catch (err) { return act(null, "Start at element", () => Promise.reject(err)); }
        return send({ elementInstancesToStart: [{ elementId: target.value, variables }] }, `Start at ${target.value}`, start);
      },
    }, h("div", { class: "row" }, h("label", { class: "field" }, "Start a token at", target), h("label", { class: "field" }, "Variables of the new element (JSON)", vars), start)),
  ];
}
