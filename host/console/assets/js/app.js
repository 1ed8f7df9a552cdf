// The console's shell: the header (connection, summary, config reload) and the views, one per
// "#/name/arg" route: models, logs, playground, activity. A view is mount(container, arg) and
// returns the function that tears it down (aborting its requests and listeners).
import { admin } from "./api.js";
import { notice } from "./dom.js";
import * as events from "./events.js";
import * as activity from "./activity.js";
import * as logs from "./logs.js";
import * as models from "./models.js";
import * as playground from "./playground.js";

const views = { models, logs, playground, activity };
let unmount = null;

function route() {
  const [name, ...rest] = (location.hash.replace(/^#\/?/, "") || "models").split("/");
  const view = views[name] ? name : "models";
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : "";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (unmount) unmount();
  const container = document.getElementById("view");
  container.replaceChildren();
  document.title = `corral · ${view}`;
  unmount = views[view].mount(container, arg) || null;
}

async function reloadConfig(button) {
  button.disabled = true;
  try {
    const result = await admin("/corral/reload", { method: "POST" });
    const notes = (result.notes || []).join(" ");
    notice(`Configuration reloaded.${notes ? " " + notes : ""}`);
  } catch (e) {
    notice(e.message, "error", 12000);
  } finally {
    button.disabled = false;
  }
}

window.addEventListener("hashchange", route);
const reload = document.getElementById("reload-config");
reload.addEventListener("click", () => reloadConfig(reload));
route();
events.run();
