// The console's router: #/page/arg?query -> a page module's render(main, arg, query).
// A page may return a cleanup function (timers, diagrams), called when the route changes.

import { token } from "./api.js";
import { clear, flash, h, routeQuery, showError } from "./ui.js";
import * as cluster from "./pages/cluster.js";
import * as processes from "./pages/processes.js";
import * as instances from "./pages/instances.js";
import * as instance from "./pages/instance.js";
import * as jobs from "./pages/jobs.js";
import * as incidents from "./pages/incidents.js";

const main = document.getElementById("page");
let cleanup = null;
let generation = 0;

function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path] = hash.split("?");
  const [name, arg] = path.split("/");
  if (name === "processes") return [processes, arg, "processes"];
  if (name === "instances" && arg) return [instance, arg, "instances"];
  if (name === "instances") return [instances, undefined, "instances"];
  if (name === "jobs") return [jobs, arg, "jobs"];
  if (name === "incidents") return [incidents, arg, "incidents"];
  return [cluster, undefined, "cluster"];
}

export async function render() {
  const mine = ++generation;
  if (cleanup) {
    try { cleanup(); } catch (err) { console.error(err); }
    cleanup = null;
  }
  const [page, arg, nav] = route();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.page === nav);
  clear(main, h("p", { class: "muted" }, "Loading…"));
  try {
    const result = await page.render(main, arg, routeQuery(), () => mine === generation);
    if (mine === generation) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") result();
  } catch (err) {
    if (mine === generation) {
      clear(main);
      showError(err);
    }
  }
}

function askToken(reason) {
  if (document.getElementById("token-form")) return;
  const input = h("input", { type: "password", name: "token", size: 40, autocomplete: "off", value: token.get() });
  const form = h("form", {
    id: "token-form", class: "message note",
    onsubmit: (event) => {
      event.preventDefault();
      token.set(input.value.trim());
      form.remove();
      flash(input.value.trim() ? "Token saved in this browser" : "Token removed", "ok");
      render();
    },
  },
  h("span", {}, reason || "API token (kept in this browser's localStorage):"), input,
  h("button", { type: "submit", class: "primary" }, "Save"),
  h("button", { type: "button", onclick: () => form.remove() }, "Close"));
  document.getElementById("messages").prepend(form);
  input.focus();
}

window.addEventListener("zennode:unauthenticated", () => askToken("This node needs an API token (auth is on). Enter it once:"));
document.getElementById("token-button").addEventListener("click", () => askToken());
window.addEventListener("hashchange", render);
render();
