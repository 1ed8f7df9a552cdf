// Logs: a model's (or one replica's, "model#1") server output from /corral/logs/NAME, the last
// lines and then every new one as the server writes it (?follow=1, a chunked stream), with a
// search that keeps only the matching lines and marks the match.
import { admin, readChunks, request } from "./api.js";
import { h, notice } from "./dom.js";

const MAX_LINES = 5000;  // kept in the page; older ones are dropped

export function mount(container, arg) {
  const select = h("select", { "aria-label": "Model or replica" });
  const search = h("input", { type: "search", placeholder: "Search (text or /regex/)", "aria-label": "Search" });
  const follow = h("input", { type: "checkbox", checked: true });
  const count = h("span.muted.small");
  const view = h("div.log.mono", { tabIndex: 0 });
  container.append(h("h1", "Logs"),
    h("div.row.logs-tools", select, search, h("label.row", follow, "Follow"), h("span.spacer"), count), view);

  let lines = [];
  let controller = null;
  let closed = false;

  const matcher = () => {
    const q = search.value;
    if (!q) return null;
    const re = q.length > 2 && q.startsWith("/") && q.endsWith("/") ? (() => { try { return new RegExp(q.slice(1, -1), "gi"); } catch { return null; } })() : null;
    return re || new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
  };
  const lineEl = (text, re) => {
    if (!re) return h("div", text);
    const parts = [];
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (!m[0]) break;
      parts.push(text.slice(last, m.index), h("mark", m[0]));
      last = m.index + m[0].length;
    }
    parts.push(text.slice(last));
    return h("div", parts);
  };
  const shown = (text, re) => !re || (re.lastIndex = 0, re.test(text));

  const render = () => {
    const re = matcher();
    const kept = lines.filter((l) => shown(l, re));
    view.replaceChildren(...kept.map((l) => lineEl(l, re)));
    count.textContent = re ? `${kept.length} of ${lines.length} lines match` : `${lines.length} lines`;
    if (follow.checked) view.scrollTop = view.scrollHeight;
  };
  const add = (newLines) => {
    lines.push(...newLines);
    if (lines.length > MAX_LINES) lines = lines.slice(lines.length - MAX_LINES);
    const re = matcher();
    const atEnd = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
    for (const l of newLines) if (shown(l, re)) view.append(lineEl(l, re));
    while (view.childElementCount > MAX_LINES) view.firstChild.remove();
    count.textContent = re ? `${view.childElementCount} of ${lines.length} lines match` : `${lines.length} lines`;
    if (follow.checked && atEnd) view.scrollTop = view.scrollHeight;
  };

  const open = async (name) => {
    controller?.abort();
    lines = [];
    render();
    if (!name) return;
    if (location.hash !== `#/logs/${encodeURIComponent(name)}`) history.replaceState(null, "", `#/logs/${encodeURIComponent(name)}`);
    const mine = (controller = new AbortController());
    try {
      const response = await request("admin", `/corral/logs/${encodeURIComponent(name)}?lines=1000&follow=1`, { signal: mine.signal });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        view.replaceChildren(h("div.muted", body?.error?.message || `${response.status} ${response.statusText}`));
        return;
      }
      let partial = "";
      await readChunks(response, (text) => {
        const parts = (partial + text).split("\n");
        partial = parts.pop();
        if (parts.length) add(parts);
      });
      if (partial) add([partial]);
      add(["— the server's output ended (it stopped); pick it again to see its next run —"]);
    } catch (e) {
      if (e.name !== "AbortError" && !closed) notice(`Logs of ${name}: ${e.message}`, "error");
    }
  };

  const fill = async () => {
    try {
      const status = await admin("/corral/status");
      const names = [];
      for (const m of status.models) {
        names.push(m.name);
        if ((m.replicas || []).length > 1) for (const r of m.replicas) if (r.name !== m.name) names.push(r.name);
      }
      const chosen = arg && names.includes(arg) ? arg : arg || names[0] || "";
      if (chosen && !names.includes(chosen)) names.push(chosen);
      select.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === chosen }, n)));
      open(chosen);
    } catch (e) {
      notice(`Reading /corral/status failed: ${e.message}`, "error");
    }
  };

  select.addEventListener("change", () => open(select.value));
  search.addEventListener("input", render);
  follow.addEventListener("change", () => { if (follow.checked) view.scrollTop = view.scrollHeight; });
  fill();
  return () => {
    closed = true;
    controller?.abort();
  };
}
