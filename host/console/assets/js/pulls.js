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

function pullRow(p) {
  const bar = h("span");
  bar.style.width = `${p.total ? Math.min(100, (100 * (p.bytes || 0)) / p.total) : 0}%`;
  let state;
  if (p.event === "done") state = h("span.state", { dataset: { state: "ready" } }, p.verified ? "verified" : "saved (not verified)");
  else if (p.event === "error") state = h("span.state", { dataset: { state: "failed" } }, p.code || "failed");
  else if (p.event === "retry") state = h("span.state", { dataset: { state: "restarting" } }, "retrying");
  else state = h("span.state", { dataset: { state: "starting" } }, "pulling");
  const detail = p.event === "error" ? p.error : p.event === "retry" ? `${p.error}; again in ${duration(p.in_seconds)}`
    : p.event === "done" ? `sha256 ${p.sha256}` : progressText(p);
  const running = p.event !== "done" && p.event !== "error";
  return h("div.pull", { dataset: { pull: String(p.id), event: p.event || "progress" } },
    h("div.row", h("strong", p.source || ""), h("span.spacer"), state,
      running ? h("button.danger", { type: "button", dataset: { cancel: String(p.id) }, title: "Stop this pull (what it fetched is kept: pulling it again goes on from there)" }, "Cancel") : null),
    h("div.small.muted", p.path || ""),
    p.event === "done" || p.event === "error" ? null : h("div.bar", bar),
    h("div.small", detail));
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
  let closed = false;
  const render = () => {
    list.replaceChildren(...[...pulls.values()].sort((a, b) => b.id - a.id).map(pullRow));
  };
  const update = (e) => {
    const before = pulls.get(e.id) || {};
    pulls.set(e.id, { ...before, ...e, ...(e.event === "progress" || e.event === "start" ? {} : { bytes: e.bytes ?? before.bytes }) });
    render();
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
    if (!button) return;
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
