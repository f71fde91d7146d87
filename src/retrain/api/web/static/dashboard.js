// retrain dashboard: progressive enhancement only. Pages read fine without it; actions need it, because the
// API token lives in this tab's sessionStorage and is sent as a bearer token (no cookie: nothing for CSRF).
"use strict";
(function () {
  const KEY = "retrain.apiToken";
  const token = () => sessionStorage.getItem(KEY);
  function flash(text, isError) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.className = isError ? "flash error" : "flash";
    box.hidden = false;
  }
  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (token()) headers["Authorization"] = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit" });
    let doc = {};
    try { doc = await res.json(); } catch (e) { doc = {}; }
    return { status: res.status, doc };
  }
  window.retrainApi = api;  // for the other pages' actions (promote, rollback, manual run)
  window.retrainFlash = flash;

  async function act(button) {
    const run = button.dataset.run, action = button.dataset.action;
    const path = "/api/v1/runs/" + encodeURIComponent(run) + "/" + action;
    button.disabled = true;
    try {
      const { status, doc } = await api("POST", path, action === "rerun" ? { from_failed: true } : undefined);
      const why = doc.message || doc.reason || doc.error || "";
      if (status >= 400) {
        const login = status === 401 || status === 403 ? " (log in with the API token)" : "";
        flash(action + " refused: " + status + " " + why + (doc.hint ? " — " + doc.hint : "") + login, true);
      } else {
        flash(action + ": " + (doc.status || status) + " " + why, false);
      }
    } catch (e) {
      flash(action + " failed: " + e, true);
    } finally {
      button.disabled = false;
    }
  }

  function session() {
    const slot = document.getElementById("session");
    if (slot && token()) slot.innerHTML = '<a href="/login">Logged in (token kept in this tab)</a>';
    const form = document.getElementById("login-form");
    if (!form) return;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("token").value);
      flash("Token kept for this tab; actions will send it.", false);
      session();
    });
    document.getElementById("logout").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      flash("Logged out: the token is forgotten.", false);
    });
  }

  function live() {
    const run = document.getElementById("run");
    if (!run || run.dataset.finished === "true") return;
    const tick = async () => {
      try {
        const res = await fetch(run.dataset.live, { headers: { "Accept": "application/json" } });
        if (res.ok) {
          const doc = await res.json();
          for (const [task, state] of Object.entries(doc.tasks)) {
            const node = document.getElementById("task-" + task);
            if (!node || node.dataset.state === state) continue;
            node.dataset.state = state;
            node.setAttribute("class", "node state-" + state.toLowerCase());
            node.querySelector(".node-state").textContent = state;
          }
          run.dataset.state = doc.state;
          if (doc.finished) { window.location.reload(); return; }  // the failure, results and steps
        }
      } catch (e) { /* the service restarts: try again */ }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 1000);
  }

  function logs() {
    const pre = document.getElementById("log");
    if (!pre || !window.EventSource) return;
    const status = document.getElementById("log-status");
    const filter = document.getElementById("log-filter");
    const lines = [];
    const matches = (l) => !filter.value || l.toLowerCase().includes(filter.value.toLowerCase());
    const render = () => { pre.textContent = lines.filter(matches).join("\n"); };
    filter.addEventListener("input", render);
    const source = new EventSource(pre.dataset.src);
    status.textContent = "streaming…";
    source.onmessage = (ev) => {
      const line = JSON.parse(ev.data);
      lines.push(line);
      if (matches(line)) pre.textContent += (pre.textContent ? "\n" : "") + line;
    };
    source.addEventListener("end", (ev) => {
      source.close();
      status.textContent = lines.length + " lines; the run ended " + JSON.parse(ev.data);
      pre.dataset.ended = "true";
    });
    source.onerror = () => { source.close(); status.textContent = "log stream interrupted: reload the page"; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    session();
    document.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", () => act(b)));
    live();
    logs();
  });
})();
