// corral's HTTP API as the console uses it: admin calls (/corral/...) with the admin key, model
// calls (/v1/...) with an API key. A key is asked for when corral answers 401, kept in this tab's
// session storage only, and sent as "Authorization: Bearer KEY".

const KEYS = { admin: "corral.admin_key", api: "corral.api_key" };
const PROMPTS = {
  admin: ["Admin key", "corral asks for its admin_api_key (or an API key with admin rights) for this."],
  api: ["API key", "corral asks for one of its api_keys to reach the models."],
};

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Asks for a key in the page's dialog; resolves with it, or null when cancelled.
let asking = null;
function askKey(kind) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-title").textContent = PROMPTS[kind][0];
  document.getElementById("key-why").textContent = PROMPTS[kind][1];
  input.value = "";
  asking = new Promise((resolve) => {
    const form = document.getElementById("key-form");
    const cancel = document.getElementById("key-cancel");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      asking = null;
      resolve(value);
    };
    const onSubmit = (e) => { e.preventDefault(); done(input.value.trim() || null); };
    const onCancel = (e) => { e.preventDefault(); done(null); };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    input.focus();
  });
  return asking;
}

function headers(kind, extra) {
  const h = new Headers(extra || {});
  const key = sessionStorage.getItem(KEYS[kind]);
  if (key) h.set("Authorization", `Bearer ${key}`);
  return h;
}

// fetch() with the key of `kind`; on 401 asks for a key and tries again (until cancelled).
export async function request(kind, path, options = {}) {
  for (;;) {
    const response = await fetch(path, { ...options, headers: headers(kind, options.headers), cache: "no-store" });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    const key = await askKey(kind);
    if (!key) throw new ApiError(401, `${PROMPTS[kind][0]} needed: ${PROMPTS[kind][1]}`, "invalid_api_key");
    sessionStorage.setItem(KEYS[kind], key);
    window.dispatchEvent(new Event("corral-key"));
  }
}

// The JSON body of a successful response; an ApiError with corral's OpenAI error message otherwise.
export async function json(response) {
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const e = body && body.error;
    throw new ApiError(response.status, e && e.message ? e.message : `${response.status} ${response.statusText}`, e && e.code);
  }
  return body;
}

export const admin = async (path, options) => json(await request("admin", path, options));
export const api = async (path, options) => json(await request("api", path, options));

// Reads a text/event-stream body, calling onEvent(data) for each "data:" event (comments and
// heartbeats skipped); resolves when the stream ends.
export async function readEvents(response, onEvent) {
  await readChunks(response, (() => {
    let buffer = "";
    return (text) => {
      buffer += text;
      let m;
      while ((m = buffer.match(/\r?\n\r?\n/))) {
        const block = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) onEvent(data);
      }
    };
  })());
}

// Calls onText(text) for each piece of the body as it arrives.
export async function readChunks(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest) onText(rest);
}
