// Models: every model with its state, where it runs, its memory, its requests and its timers, and
// buttons to load, unload and reload it; below, each machine's devices and what is reserved on
// them. The table is read from /corral/status when the view opens and again whenever the event
// stream reports a change (no polling); the clocks (uptime, idle, unload in) tick in the page.
import { admin } from "./api.js";
import { bytes, duration, h, notice } from "./dom.js";
import * as events from "./events.js";
import * as pulls from "./pulls.js";

const enc = encodeURIComponent;

function where(s) {
  const p = s.placement;
  if (!p) return s.endpoint ? h("span.muted", s.endpoint) : "";
  const devices = (p.devices || []).join(", ") || "RAM";
  return [p.machine, h("span.sub", devices), s.endpoint ? h("span.sub.mono", s.endpoint) : null];
}

function loaded(s) {
  return !["unloaded", "stopped", "failed", "queued"].includes(s.state);
}

// A clock cell: counts up (uptime, idle) or down (unloads in) from `seconds` as read, ticked by
// tick() without rebuilding the row.
function clockCell(seconds, direction = 1) {
  if (seconds === undefined || seconds === null) return h("td.num");
  return h("td.num", { dataset: { seconds: String(seconds), direction: String(direction) } }, duration(seconds));
}

function tick(tbody, age) {
  for (const td of tbody.querySelectorAll("td[data-seconds]")) {
    td.textContent = duration(Math.max(0, Number(td.dataset.seconds) + Number(td.dataset.direction) * age));
  }
}

// One row of a model, or of one of its replicas (`replica` true).
function row(s, replica = false) {
  const cells = [
    h("td", replica ? h("span.muted", "↳ ", s.name) : [h("strong", s.name),
      s.aliases && s.aliases.length ? h("span.sub", `aka ${s.aliases.join(", ")}`) : null,
      h("span.sub", s.runner + (s.max_replicas > 1 ? ` · up to ${s.max_replicas} replicas` : ""))]),
    h("td", h("span.state", { dataset: { state: s.state } }, s.state),
      s.message && s.message !== s.endpoint ? h("span.sub", s.message) : null,
      s.restarts ? h("span.sub", `${s.restarts} restart${s.restarts === 1 ? "" : "s"}`) : null),
    h("td", where(s)),
    h("td.num", replica ? "" : [bytes(s.memory), h("span.sub", s.memory_source || "")]),
    h("td.num", String(s.in_flight ?? 0), replica ? "" : h("span.sub", `${s.queued ?? 0} queued`)),
    clockCell(s.uptime_seconds),
    clockCell(s.idle_seconds),
    replica || s.unload_in_seconds === undefined
      ? h("td.num", !replica && s.ttl_seconds !== undefined ? h("span.muted", `ttl ${duration(s.ttl_seconds)}`) : "")
      : clockCell(s.unload_in_seconds, -1),
  ];
  if (replica) {
    cells.push(h("td.actions", h("a", { href: `#/logs/${enc(s.name)}` }, "logs")));
    return h("tr.replica", { dataset: { replica: s.name } }, cells);
  }
  const busy = ["starting", "restarting", "stopping"].includes(s.state);
  cells.push(h("td.actions",
    h("button", { type: "button", dataset: { action: "load" }, disabled: loaded(s), title: "Start its server now" }, "Load"),
    h("button.danger", { type: "button", dataset: { action: "unload" }, disabled: !loaded(s) || s.state === "stopping", title: "Stop its server" }, "Unload"),
    h("button", { type: "button", dataset: { action: "reload" }, disabled: !loaded(s) || busy, title: "Stop and start its server again" }, "Reload"),
    h("a", { href: `#/logs/${enc(s.name)}` }, "logs"),
    h("a", { href: `#/playground/${enc(s.name)}` }, "chat"),
    // The model's own server page (llama-server's chat UI) through corral's /upstream passthrough.
    h("a", { href: `/upstream/${enc(s.name)}/`, target: "_blank", rel: "noopener", title: "The server's own page, in a new tab" }, "page")));
  return h("tr", { dataset: { model: s.name } }, cells);
}

function machineCard(m) {
  const devices = (m.devices || []).map((d) => {
    const cap = d.memory_capacity || d.memory_total || 0;
    const bar = h("span");
    bar.style.width = `${cap ? Math.min(100, (100 * d.memory_reserved) / cap) : 0}%`;
    return h("div", h("div.row", h("strong", d.id), h("span.muted", d.name), h("span.spacer"),
      h("span.small", `${bytes(d.memory_reserved)} of ${bytes(cap)} reserved`)), h("div.bar", bar));
  });
  const ramCap = m.ram_capacity ?? m.ram_total;
  const ramBar = h("span");
  ramBar.style.width = `${ramCap ? Math.min(100, (100 * m.ram_reserved) / ramCap) : 0}%`;
  return h("div.panel", { dataset: { machine: m.name } },
    h("div.row", h("strong", m.name), h("span.muted.small", (m.runners || []).join(", ")),
      m.capacity_managed_elsewhere ? h("span.pill", "capacity managed elsewhere") : null),
    devices,
    h("div", h("div.row", h("strong", "RAM"), h("span.spacer"),
      h("span.small", `${bytes(m.ram_reserved)} of ${bytes(ramCap)} reserved`)), h("div.bar", ramBar)));
}

function summary(status) {
  const n = status.models.length;
  const up = status.models.filter(loaded).length;
  const budget = status.memory_budget ? ` of ${bytes(status.memory_budget)}` : "";
  document.getElementById("summary").textContent =
    `corral ${status.version} · ${n} model${n === 1 ? "" : "s"}, ${up} loaded · ${bytes(status.memory_used)}${budget} reserved`;
}

export function mount(container) {
  const tbody = h("tbody");
  const machines = h("div.cards");
  const title = h("h1", "Models");
  const pullsSlot = h("div");
  container.append(title,
    h("div.panel", h("table",
      h("thead", h("tr", ["Model", "State", "Where", "Memory", "In flight", "Uptime", "Idle", "Unloads in", ""].map((t, i) =>
        h(i >= 3 && i <= 7 ? "th.num" : "th", t)))),
      tbody)),
    pullsSlot,
    h("h2", "Machines"), machines);
  const unmountPulls = pulls.mount(pullsSlot);

  let status = null;
  let readAt = 0;
  let pending = null;
  let closed = false;

  const render = () => {
    const rows = [];
    for (const m of status.models) {
      rows.push(row(m));
      if ((m.replicas || []).length > 1) for (const r of m.replicas) rows.push(row(r, true));
    }
    tbody.replaceChildren(...rows);
    if (!status.models.length) tbody.append(h("tr", h("td", { colSpan: 9 }, h("span.muted", "No models are configured."))));
  };

  const refresh = async () => {
    try {
      const next = await admin("/corral/status");
      if (closed) return;
      status = next;
      readAt = performance.now();
      machines.replaceChildren(...(status.machines || []).map(machineCard));
      summary(status);
      render();
    } catch (e) {
      if (!closed) notice(`Reading /corral/status failed: ${e.message}`, "error");
    }
  };
  // Events come in bursts (a load is several state changes): one read for each burst, and at
  // most one a second for the "requests" events of a busy model.
  let due = Infinity;
  const soon = (delay = 100) => {
    const at = performance.now() + delay;
    if (pending !== null && due <= at) return;
    clearTimeout(pending);
    due = at;
    pending = setTimeout(() => { pending = null; due = Infinity; refresh(); }, delay);
  };

  const act = async (name, action) => {
    const path = `/corral/models/${enc(name)}`;
    try {
      if (action === "reload") {
        await admin(`${path}/unload`, { method: "POST" });
        await admin(`${path}/load?wait=0`, { method: "POST" });
      } else {
        await admin(`${path}/${action}${action === "load" ? "?wait=0" : ""}`, { method: "POST" });
      }
    } catch (e) {
      notice(`${action} ${name}: ${e.message}`, "error", 12000);
    }
    soon();
  };
  tbody.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    const tr = e.target.closest("tr[data-model]");
    if (!button || !tr) return;
    button.disabled = true;
    act(tr.dataset.model, button.dataset.action);
  });

  const unsubscribe = events.subscribe({
    onEvent: (event) => {
      if (event.type === "pull") return;  // the pulls panel shows them; a pulled file arrives as a "reload" event
      soon(event.type === "requests" ? 1000 : 100);
    },
    onConnection: (state) => { if (state === "connected") soon(); },
  });
  const ticker = setInterval(() => tick(tbody, (performance.now() - readAt) / 1000), 1000);  // the clocks only; nothing is fetched
  refresh();
  return () => {
    closed = true;
    unmountPulls();
    unsubscribe();
    clearInterval(ticker);
    clearTimeout(pending);
  };
}
