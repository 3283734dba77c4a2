// BPMN diagrams with bpmn-js's navigated viewer (vendored; global BpmnJS): markers on
// elements (CSS classes on each shape's SVG group) and count overlays.
// The bpmn.io watermark bpmn-js draws is left visible, as its licence requires.

import { h } from "./ui.js";

export class Diagram {
  constructor(container) {
    this.container = container;
    this.viewer = new window.BpmnJS({ container });
    this.markers = [];
  }

  /** Render `xml`; false (and a message in the container) when bpmn-js cannot read it. */
  async show(xml) {
    if (!/BPMNDiagram\b/.test(xml)) {
      this.container.append(h("p", { class: "message note" },
        "This model has no diagram layout (no BPMN DI in its XML), so there is nothing to draw; its elements are in the sections below."));
      return false;
    }
    try {
      await this.viewer.importXML(xml);
      this.viewer.get("canvas").zoom("fit-viewport", "auto");
      return true;
    } catch (err) {
      this.container.append(h("p", { class: "message error" }, `The diagram cannot be drawn: ${err.message}`));
      return false;
    }
  }

  has(elementId) {
    return Boolean(this.viewer.get("elementRegistry").get(elementId));
  }

  mark(elementId, cls) {
    if (!this.has(elementId)) return;
    this.viewer.get("canvas").addMarker(elementId, cls);
    this.markers.push([elementId, cls]);
  }

  /** Mark the sequence flows the tokens took, read from the history (which lists element
   * instances, not flows): a flow from an element that completed to one that ran. Where two
   * elements that both ran are joined by more than one path, each such flow is marked. */
  markPath(completed, ran) {
    const flows = this.viewer.get("elementRegistry").filter((e) => e.type === "bpmn:SequenceFlow");
    for (const flow of flows) {
      if (completed.has(flow.source?.id) && ran.has(flow.target?.id)) this.mark(flow.id, "zn-taken");
    }
  }

  clearMarks() {
    const canvas = this.viewer.get("canvas");
    for (const [id, cls] of this.markers) canvas.removeMarker(id, cls);
    this.markers = [];
    this.viewer.get("overlays").remove({ type: "zn-count" });
  }

  /** Badges at an element's bottom-left: {active: 2, incidents: 1, ...}, zeros left out. */
  counts(elementId, counts) {
    if (!this.has(elementId)) return;
    const parts = Object.entries(counts).filter(([, n]) => n > 0);
    if (!parts.length) return;
    const html = h("div", { class: "zn-count", title: parts.map(([k, n]) => `${n} ${k}`).join(", ") },
      parts.map(([kind, n]) => h("span", { class: kind }, String(n))));
    this.viewer.get("overlays").add(elementId, "zn-count", { position: { bottom: 8, left: -6 }, html });
  }

  /** Call `pick(elementId, element)` when a flow node is clicked. */
  onClick(pick) {
    this.viewer.get("eventBus").on("element.click", (event) => {
      const el = event.element;
      if (el && el.type && el.type !== "bpmn:Process" && el.type !== "bpmn:SequenceFlow" && !el.labelTarget) {
        pick(el.id, el);
      }
    });
  }

  destroy() {
    this.viewer.destroy();
  }
}
