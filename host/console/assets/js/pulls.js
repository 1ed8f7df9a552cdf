// Pulls, on the models page: a form that asks corral to fetch a model file into one of its
// models_dir folders (POST /corral/models/pull?wait=0), and every pull under way or just ended,
// whoever started it, live from the "pull" events (GET /corral/pulls when the page opens), each
// with a Cancel button while it runs (DELETE /corral/pulls/ID). A pulled
// file is served once whole: the models table hears of it from the watch's "reload" event.
import { admin } from "./api.js";
import { bytes, duration, h, notice } from "./dom.js";
import * as events from "./events.js";

function progressText(p) {
  const parts = [];
  if (p.total) parts.push(`${Math.floor((100 * (p.bytes || 0)) / p.total)}%`, `${bytes(p.bytes || 0)} of ${bytes(p.total)}`);
  else parts.push(bytes(p.bytes || 0));
  if (p.bytes_per_second) parts.push(`${bytes(p.bytes_per_second)}/s`);
  if (p.eta_seconds !== undefined) parts.push(`${duration(p.eta_seconds)} left`);
  return parts.join(" · ");
}

// One pull's row. Its elements are made once and updated in place as events come (several a
// second), so that a click on its Cancel button is never lost to a re-render.
function pullRow(id) {
  const parts = {
    title: h("strong"),
    state: h("span.state"),
    cancel: h("button.danger", { type: "button", dataset: { cancel: String(id) }, title: "Stop this pull (what it fetched is kept: pulling it again goes on from there)" }, "Cancel"),
    path: h("div.small.muted"),
    fill: h("span"),
    detail: h("div.small"),
  };
  parts.bar = h("div.bar", parts.fill);
  parts.el = h("div.pull", { dataset: { pull: String(id) } },
    h("div.row", parts.title, h("span.spacer"), parts.state, parts.cancel), parts.path, parts.bar, parts.detail);
  return parts;
}

function paint(r, p) {
  const ended = p.event === "done" || p.event === "error";
  r.el.dataset.event = p.event || "progress";
  r.title.textContent = p.source || "";
  r.path.textContent = p.path || "";
  const [state, text] = p.event === "done" ? ["ready", p.verified ? "verified" : "saved (not verified)"]
    : p.event === "error" ? ["failed", p.code || "failed"]
    : p.event === "retry" ? ["restarting", "retrying"] : ["starting", "pulling"];
  r.state.dataset.state = state;
  r.state.textContent = text;
  r.cancel.hidden = ended;
  r.bar.hidden = ended;
  r.fill.style.width = `${p.total ? Math.min(100, (100 * (p.bytes || 0)) / p.total) : 0}%`;
  r.detail.textContent = p.event === "error" ? p.error : p.event === "retry" ? `${p.error}; again in ${duration(p.in_seconds)}`
    : p.event === "done" ? `sha256 ${p.sha256}` : progressText(p);
}

export function mount(container) {
  const source = h("input", { name: "source", required: true, placeholder: "https://…/model.gguf or hf:ORG/REPO/FILE.gguf[@REVISION]", size: 60, spellcheck: false });
  const sha256 = h("input", { name: "sha256", placeholder: "SHA-256 (optional; hf: uses the published one)", size: 40, spellcheck: false });
  const name = h("input", { name: "name", placeholder: "save as (optional)", size: 16, spellcheck: false });
  const dir = h("select", { name: "dir" });
  const submit = h("button.primary", { type: "submit" }, "Pull");
  const list = h("div.pulls");
  const form = h("form.row", { id: "pull-form" }, source, sha256, name, dir, submit);
  const panel = h("div.panel.pull-panel", { hidden: true }, h("h2", "Pull a model"), form, list);
  container.append(panel);

  const pulls = new Map();  // id -> the latest event (with id, source, path)
  const rows = new Map();   // id -> its row's elements
  let closed = false;
  const update = (e) => {
    const before = pulls.get(e.id) || {};
    const p = { ...before, ...e, ...(e.event === "progress" || e.event === "start" ? {} : { bytes: e.bytes ?? before.bytes }) };
    pulls.set(e.id, p);
    let row = rows.get(e.id);
    if (!row) {
      row = pullRow(e.id);
      rows.set(e.id, row);
      list.prepend(row.el);  // the newest first; the others stay where they are
    }
    paint(row, p);
  };

  (async () => {
    try {
      const [status, running] = await Promise.all([admin("/corral/status"), admin("/corral/pulls")]);
      if (closed) return;
      const dirs = status.models_dirs || [];
      panel.hidden = dirs.length === 0;  // pulls are saved into a models_dir
      dir.replaceChildren(...dirs.map((d) => h("option", { value: d }, d)));
      dir.hidden = dirs.length < 2;
      for (const p of running.pulls || []) update({ event: "progress", ...p });
    } catch (e) {
      if (!closed) notice(`Reading the pulls failed: ${e.message}`, "error");
    }
  })();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { source: source.value.trim() };
    if (sha256.value.trim()) body.sha256 = sha256.value.trim();
    if (name.value.trim()) body.name = name.value.trim();
    if (dir.value) body.dir = dir.value;
    submit.disabled = true;
    try {
      const started = await admin("/corral/models/pull?wait=0", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!pulls.has(started.id)) update({ id: started.id, event: "start", source: body.source });
      source.value = sha256.value = name.value = "";
    } catch (err) {
      notice(`Pull: ${err.message}`, "error", 12000);
    } finally {
      submit.disabled = false;
    }
  });

  list.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-cancel]");
    if (!button || button.hidden) return;
    button.disabled = true;
    try {
      await admin(`/corral/pulls/${button.dataset.cancel}`, { method: "DELETE" });
    } catch (err) {
      notice(`Cancel: ${err.message}`, "error", 12000);
    }
  });

  const unsubscribe = events.subscribe({
    onEvent: (e) => {
      if (e.type !== "pull") return;
      update(e);
      if (e.event === "done") notice(`Pulled ${e.path}${e.verified ? " (SHA-256 verified)" : ""}`);
      if (e.event === "error") notice(`Pull of ${e.source || e.path} failed: ${e.error}`, "error", 12000);
    },
  });
  return () => {
    closed = true;
    unsubscribe();
  };
}
