// Playground: chat with any model through POST /v1/chat/completions, streamed token by token.
// Reasoning (delta.reasoning_content) is shown apart from the answer; Stop aborts the request
// (corral cancels it at the server); after each answer, time to first token and tokens/s (the
// server's own timings when it sends them, else measured here).
import { api, ApiError, readEvents, request } from "./api.js";
import { h, notice } from "./dom.js";

const STORE = "corral.playground";

function field(label, input) {
  return h("label", label, input);
}

export function mount(container, arg) {
  const saved = JSON.parse(sessionStorage.getItem(STORE) || "{}");
  const model = h("select", { name: "model" });
  const system = h("textarea", { name: "system", rows: 4, placeholder: "You are a helpful assistant.", value: saved.system || "" });
  const temperature = h("input", { name: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: saved.temperature ?? 0.8 });
  const maxTokens = h("input", { name: "max_tokens", type: "number", min: 1, step: 1, value: saved.max_tokens ?? 256 });
  const messagesEl = h("div.messages", { "aria-live": "polite" });
  const input = h("textarea", { name: "prompt", rows: 3, placeholder: "Message (Enter sends, Shift+Enter for a new line)" });
  const send = h("button.primary", { type: "button", name: "send" }, "Send");
  const stop = h("button", { type: "button", name: "stop", disabled: true }, "Stop");
  const clear = h("button", { type: "button", name: "clear" }, "Clear");
  container.append(h("div.playground",
    h("div.settings.panel", h("h1", "Playground"), field("Model", model), field("System prompt", system),
      field("Temperature", temperature), field("Max tokens", maxTokens), h("div.row", clear)),
    h("div.chat", messagesEl, h("div.composer", input, h("div", send, h("br"), stop)))));

  let history = [];
  let controller = null;
  let closed = false;

  const remember = () => sessionStorage.setItem(STORE, JSON.stringify({
    system: system.value, temperature: Number(temperature.value), max_tokens: Number(maxTokens.value), model: model.value,
  }));
  for (const el of [system, temperature, maxTokens, model]) el.addEventListener("change", remember);

  const bubble = (role, text) => {
    const el = h(`div.message.${role}`, h("span.who", role === "user" ? "you" : model.value), h("span.text", text));
    messagesEl.append(el);
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return el;
  };

  const busy = (on) => {
    send.disabled = on;
    stop.disabled = !on;
    model.disabled = on;
  };

  const ask = async () => {
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    history.push({ role: "user", content: text });
    bubble("user", text);
    const answer = bubble("assistant", "");
    answer.dataset.state = "waiting";
    const textEl = answer.querySelector(".text");
    let reasoningEl = null;
    let content = "";
    let reasoning = "";
    let tokens = 0;
    let timings = null;
    let usage = null;
    const started = performance.now();
    let first = null;
    const messages = [];
    if (system.value.trim()) messages.push({ role: "system", content: system.value.trim() });
    messages.push(...history);
    const body = {
      model: model.value, messages, stream: true, stream_options: { include_usage: true },
      temperature: Number(temperature.value), max_tokens: Number(maxTokens.value),
    };
    controller = new AbortController();
    busy(true);
    let stopped = false;
    try {
      const response = await request("api", "/v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: controller.signal,
      });
      if (!response.ok) {
        const err = await response.json().catch(() => null);
        throw new ApiError(response.status, err?.error?.message || `${response.status} ${response.statusText}`);
      }
      answer.dataset.state = "streaming";
      await readEvents(response, (data) => {
        if (data === "[DONE]") return;
        let chunk;
        try { chunk = JSON.parse(data); } catch { return; }
        if (chunk.error) throw new ApiError(500, chunk.error.message || "the server reported an error");
        if (chunk.timings) timings = chunk.timings;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta;
        if (!delta) return;
        if (delta.reasoning_content) {
          if (!reasoningEl) {
            reasoningEl = h("details.reasoning", { open: true }, h("summary", "Reasoning"), h("span"));
            answer.insertBefore(reasoningEl, textEl);
          }
          first ??= performance.now();
          reasoning += delta.reasoning_content;
          reasoningEl.lastChild.textContent = reasoning;
          tokens++;
        }
        if (delta.content) {
          first ??= performance.now();
          content += delta.content;
          textEl.textContent = content;
          tokens++;
        }
        messagesEl.scrollTop = messagesEl.scrollHeight;
      });
    } catch (e) {
      if (e.name === "AbortError") {
        stopped = true;
      } else {
        answer.classList.add("error");
        textEl.textContent = content + (content ? "\n" : "") + e.message;
        if (!closed) notice(e.message, "error");
      }
    } finally {
      controller = null;
      busy(false);
    }
    if (reasoningEl && content) reasoningEl.open = false;
    history.push({ role: "assistant", content });
    const end = performance.now();
    const ttft = first !== null ? first - started : null;
    const n = usage?.completion_tokens ?? timings?.predicted_n ?? tokens;
    const rate = timings?.predicted_per_second ?? (first !== null && end > first && n > 1 ? ((n - 1) * 1000) / (end - first) : null);
    const parts = [];
    if (ttft !== null) parts.push(`first token ${Math.round(ttft)} ms`);
    if (rate) parts.push(`${rate.toFixed(1)} tokens/s`);
    parts.push(`${n} token${n === 1 ? "" : "s"}`);
    if (stopped) parts.push("stopped");
    answer.append(h("span.stats", parts.join(" · ")));
    answer.dataset.state = stopped ? "stopped" : answer.classList.contains("error") ? "error" : "done";
  };

  send.addEventListener("click", ask);
  stop.addEventListener("click", () => controller?.abort());
  clear.addEventListener("click", () => { history = []; messagesEl.replaceChildren(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); ask(); }
  });

  (async () => {
    try {
      const list = await api("/v1/models");
      const names = (list.data || []).map((m) => m.id);
      const chosen = names.includes(arg) ? arg : names.includes(saved.model) ? saved.model : names[0];
      model.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === chosen }, n)));
      if (!names.length) model.append(h("option", { value: "" }, "(no models)"));
    } catch (e) {
      if (!closed) notice(`Reading /v1/models failed: ${e.message}`, "error");
    }
  })();
  input.focus();
  return () => {
    closed = true;
    controller?.abort();
  };
}
