// Cluster: nodes up/down, partitions (leader, followers, applied index, digest agreement),
// readiness, and live rates from this node's own /metrics, refreshed every few seconds.

import { get } from "../api.js";
import { badge, clear, errorText, h, table } from "../ui.js";

const REFRESH_MS = 3000;
// counter families -> the rates shown (per second, summed over this node's partitions)
const RATES = [
  ["zennode_process_instances_total", "started", "Instances started /s"],
  ["zennode_process_instances_total", "completed", "Instances completed /s"],
  ["zennode_job_events_total", "created", "Jobs created /s"],
  ["zennode_job_events_total", "completed", "Jobs completed /s"],
  ["zennode_job_events_total", "failed", "Jobs failed /s"],
  ["zennode_incident_events_total", "created", "Incidents /s"],
];

/** Prometheus text -> {"family|action": sum over partitions (and job types)}. */
export function counters(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^(zennode_[a-z_]+_total)\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const action = /action="([^"]*)"/.exec(m[2]);
    if (!action) continue;
    const key = `${m[1]}|${action[1]}`;
    out[key] = (out[key] || 0) + Number(m[3]);
  }
  return out;
}

function gauge(text, family) {
  let sum = 0, seen = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(family + "{") || line.startsWith(family + " ")) {
      sum += Number(line.trim().split(/\s+/).pop());
      seen = true;
    }
  }
  return seen ? sum : null;
}

/** agree: every replica at the same applied index has the same digest. */
function agreement(replicas) {
  const withDigest = replicas.filter((r) => r.digest);
  if (!withDigest.length) return "unknown";
  const indexes = new Set(withDigest.map((r) => r.appliedIndex));
  if (indexes.size > 1) return "catching up";
  return new Set(withDigest.map((r) => r.digest)).size === 1 ? "agree" : "differ";
}

export async function render(main, _arg, _query, current) {
  const status = h("div", { class: "cards", id: "cluster-cards" });
  const nodes = h("section", { class: "panel", id: "nodes" });
  const parts = h("section", { class: "panel", id: "partitions" });
  const updated = h("span", { class: "muted" });
  clear(main, h("h1", {}, "Cluster ", updated), status, h("h2", {}, "Nodes"), nodes, h("h2", {}, "Partitions"), parts);
  let previous = null;

  async function refresh() {
    try {
      const [topology, node, metrics] = await Promise.all([
        get("/v1/cluster/topology"),
        get("/system/status"),
        get("/metrics").catch((err) => ({ error: err })),
      ]);
      if (!current()) return;
      const cards = [
        ["Node", `#${node.nodeId}`],
        ["Ready", node.ready ? "yes" : "no"],
        ["Nodes up", `${topology.nodes.filter((n) => n.up).length} / ${topology.nodes.length}`],
        ["Partitions", String(topology.partitionsCount)],
        ["Replication", String(topology.replicationFactor)],
      ];
      if (typeof metrics === "string") {
        const now = performance.now();
        const values = counters(metrics);
        for (const [family, action, label] of RATES) {
          const key = `${family}|${action}`;
          let rate = "…";
          if (previous) {
            const seconds = (now - previous.at) / 1000;
            rate = (Math.max(0, (values[key] || 0) - (previous.values[key] || 0)) / seconds).toFixed(1);
          }
          cards.push([label, rate]);
        }
        const active = gauge(metrics, "zennode_process_instances_active");
        if (active !== null) cards.push(["Active instances (led here)", String(active)]);
        const open = gauge(metrics, "zennode_incidents_open");
        if (open !== null) cards.push(["Open incidents (led here)", String(open)]);
        previous = { at: now, values };
      } else {
        cards.push(["Rates", `no metrics: ${errorText(metrics.error)}`]);
      }
      clear(status, cards.map(([label, value]) => h("div", { class: "card", dataset: { card: label } },
        h("div", { class: "value" }, value), h("div", { class: "label" }, label))));
      clear(nodes, table([
        { title: "Node", render: (n) => [`#${n.id}`, n.self ? h("span", { class: "muted" }, " (this node)") : ""] },
        { title: "State", render: (n) => badge(n.up ? "up" : "down") },
        { title: "REST", render: (n) => h("span", { class: "mono" }, n.http) },
        { title: "gRPC", render: (n) => h("span", { class: "mono" }, n.grpc) },
      ], topology.nodes));
      const local = new Map(node.partitions.map((p) => [p.partition, p]));
      clear(parts, table([
        { title: "Partition", render: (p) => String(p.id) },
        { title: "Leader", render: (p) => (p.leader ? `#${p.leader}` : badge("no leader")) },
        { title: "Followers", render: (p) => p.followers.map((f) => `#${f}`).join(", ") || "—" },
        { title: "Replicas (role · applied index · digest)", render: (p) => p.replicas.map((r) => h("div", {},
          `#${r.node} `, badge(r.up ? r.role || "?" : "down"), ` · ${r.appliedIndex ?? "?"} · `,
          h("span", { class: "mono", title: r.digest || "" }, (r.digest || "—").slice(0, 12)))) },
        { title: "Digests", render: (p) => badge(agreement(p.replicas)) },
        { title: "Here", render: (p) => (local.get(p.id)?.halted ? badge("failed") : local.has(p.id) ? "local" : "—") },
      ], topology.partitions));
      updated.textContent = `· updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (current()) updated.textContent = `· refresh failed: ${errorText(err)}`;
    }
  }

  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
