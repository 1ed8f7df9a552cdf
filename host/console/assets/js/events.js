// The live feed from GET /corral/events, shared by every view: one connection while the page is
// open, read with fetch() (EventSource cannot send the admin key). When it drops (corral
// restarted, the network went away) it connects again after 1 s, then 2, 4 ... up to 10 s, and
// tells its listeners so they read the state they may have missed.
import { ApiError, readEvents, request } from "./api.js";

const listeners = new Set();
const RECENT = 300;
const recentEvents = [];   // the last events (not "requests"), oldest first, for views opened later
const seen = new Set();    // "time:seq" of those, so that a replay after a reconnect repeats none
let state = "connecting";

function setState(next, detail = "") {
  state = next;
  const pill = document.getElementById("connection");
  pill.dataset.state = next;
  pill.textContent = next === "connected" ? "live" : next;
  pill.title = detail || "The live event stream from corral";
  for (const l of listeners) l.onConnection?.(next);
}

// listener: {onEvent(event), onConnection(state)}; returns a function that removes it.
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function connectionState() {
  return state;
}

export function recent() {
  return recentEvents.slice();
}

function remember(event) {
  // Frequent events are passed on but not kept (corral does not replay them either).
  if (event.type === "requests" || (event.type === "pull" && event.event === "progress")) return true;
  const key = `${event.time}:${event.seq}`;
  if (seen.has(key)) return false;
  seen.add(key);
  recentEvents.push(event);
  if (recentEvents.length > RECENT) {
    const old = recentEvents.shift();
    seen.delete(`${old.time}:${old.seq}`);
  }
  return true;
}

export async function run() {
  let delay = 1000;
  for (;;) {
    try {
      // replay=1: corral's recent history first (what happened before, or while we were away).
      const response = await request("admin", "/corral/events?replay=1");
      if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
      setState("connected");
      delay = 1000;
      await readEvents(response, (data) => {
        let event;
        try { event = JSON.parse(data); } catch { return; }
        if (!remember(event)) return;
        for (const l of listeners) l.onEvent?.(event);
      });
      setState("offline", "corral ended the event stream");
    } catch (e) {
      setState("offline", e.message);
      if (e instanceof ApiError && e.status === 401) {
        // No key was given: wait until one is (another view asked for it), then connect.
        await new Promise((resolve) => window.addEventListener("corral-key", resolve, { once: true }));
        setState("connecting");
        continue;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 10000);
    setState("connecting");
  }
}
