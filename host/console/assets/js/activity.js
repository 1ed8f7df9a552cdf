// Activity: requests per model over the last ten minutes (GET /corral/activity: 10-second
// buckets of requests, errors, generated tokens, loads and evictions), and corral's events as
// they happen (loads, readiness, evictions, failures, restarts, reloads). The charts are read
// again once per bucket while the page is open; the events come from the live stream.
import { admin } from "./api.js";
import { clock, h, notice } from "./dom.js";
import * as events from "./events.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// Bars of requests (errors stacked in red) per bucket, oldest on the left.
function chart(series, bucketSeconds) {
  const n = series.requests.length;
  const max = Math.max(1, ...series.requests);
  const el = svg("svg", { class: "chart", viewBox: `0 0 ${n * 10} 100`, preserveAspectRatio: "none", role: "img" });
  for (let i = 0; i < n; i++) {
    const total = series.requests[i];
    const bad = series.errors[i];
    const x = i * 10 + 1;
    if (total) {
      const height = (94 * total) / max;
      const bar = svg("rect", { class: "requests", x, y: 100 - height, width: 8, height });
      const title = svg("title", {});
      const ago = (n - 1 - i) * bucketSeconds;
      title.textContent = `${total} request${total === 1 ? "" : "s"}, ${bad} error${bad === 1 ? "" : "s"}, ` +
        `${series.tokens[i]} tokens generated (${ago ? `${ago}s ago` : "now"})`;
      bar.append(title);
      el.append(bar);
    }
    if (bad) {
      const height = (94 * bad) / max;
      el.append(svg("rect", { class: "errors", x, y: 100 - height, width: 8, height }));
    }
  }
  el.append(svg("line", { class: "axis", x1: 0, y1: 99.5, x2: n * 10, y2: 99.5 }));
  return el;
}

const sum = (a) => a.reduce((x, y) => x + y, 0);

function describe(e) {
  switch (e.type) {
    case "state": return `${e.model}: ${e.state}${e.message ? ` (${e.message})` : ""}`;
    case "kv_cache": return `${e.model}: prompt cache ${e.action || ""} ${e.ok === false ? "failed" : ""}`.trim();
    case "reload": case "draining": case "stopped": return e.message || e.type;
    case "result": return `${e.model}: ${e.message}`;
    default: return `${e.type}${e.model ? ` ${e.model}` : ""}${e.message ? `: ${e.message}` : ""}`;
  }
}

export function mount(container) {
  const charts = h("div.cards");
  const feed = h("div.feed.mono.panel");
  container.append(h("h1", "Activity"),
    h("p.muted.small", "Requests per model over the last ten minutes, ten seconds a bar (errors in red)."),
    charts, h("h2", "Events"), feed);
  let closed = false;

  const refresh = async () => {
    try {
      const a = await admin("/corral/activity");
      if (closed) return;
      const names = Object.keys(a.models).sort();
      charts.replaceChildren(...names.map((name) => {
        const s = a.models[name];
        const label = name || "(no model named)";
        return h("div.panel", { dataset: { activity: name } },
          h("div.row", h("strong", label), h("span.spacer"),
            h("span.small.muted", `${sum(s.requests)} requests · ${sum(s.errors)} errors · ${sum(s.tokens)} tokens · ` +
              `${sum(s.loads)} loads · ${sum(s.evictions)} evictions`)),
          chart(s, a.bucket_seconds),
          h("div.row.small.muted", h("span", `${Math.round((a.buckets * a.bucket_seconds) / 60)} min ago`), h("span.spacer"),
            h("span", `peak ${Math.max(...s.requests)} per ${a.bucket_seconds} s`), h("span.spacer"), h("span", "now")));
      }));
      if (!names.length) charts.append(h("p.muted", "No requests in the last ten minutes."));
    } catch (e) {
      if (!closed) notice(`Reading /corral/activity failed: ${e.message}`, "error");
    }
  };

  const log = (text, kind, time) => {
    feed.prepend(h("div", { dataset: { kind } }, h("time", clock(time ? new Date(time) : new Date())), text));
    while (feed.childElementCount > 500) feed.lastChild.remove();
  };
  for (const e of events.recent()) log(describe(e), e.type, e.time);
  const unsubscribe = events.subscribe({
    onEvent: (e) => { if (e.type !== "requests") log(describe(e), e.type, e.time); },
    onConnection: (state) => log(state === "connected" ? "event stream connected" : `event stream ${state}`, "connection"),
  });
  const timer = setInterval(refresh, 10000);  // one bucket
  refresh();
  return () => {
    closed = true;
    clearInterval(timer);
    unsubscribe();
  };
}
