// The Models and Triggers pages' actions: promote, roll back and start a run, through the JSON API with the
// bearer token kept by dashboard.js (window.retrainApi). Without JavaScript the pages still read fine.
"use strict";
(function () {
  const NOTE = "retrain.flashAfterReload";
  function report(what, status, doc) {
    const why = doc.message || doc.reason || doc.error || "";
    if (status >= 400) {
      const login = status === 401 || status === 403 ? " (log in with the API token)" : "";
      window.retrainFlash(what + " refused: " + status + " " + why + (doc.hint ? " — " + doc.hint : "") + login, true);
      return false;
    }
    window.retrainFlash(what + ": " + (doc.status || status) + (doc.run ? " " + doc.run : "") + " — " + why, false);
    return true;
  }

  async function modelAction(button) {
    const model = button.dataset.model, action = button.dataset.modelAction;
    const path = "/api/v1/models/" + encodeURIComponent(model) + "/" + action;
    const body = action === "promote" ? { version: Number(button.dataset.version) } : undefined;
    button.disabled = true;
    try {
      const { status, doc } = await window.retrainApi("POST", path, body);
      if (report(action, status, doc)) {
        // Reload to show the moved aliases; the message survives the reload (this tab only).
        sessionStorage.setItem(NOTE, document.getElementById("flash").textContent);
        window.location.reload();
      }
    } catch (e) {
      window.retrainFlash(action + " failed: " + e, true);
    } finally {
      button.disabled = false;
    }
  }

  async function startRun(form) {
    const body = {};
    for (const [key, value] of new FormData(form).entries()) if (value) body[key] = value;
    try {
      const { status, doc } = await window.retrainApi("POST", "/api/v1/runs", body);
      report("start run", status, doc);
    } catch (e) {
      window.retrainFlash("start run failed: " + e, true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const note = sessionStorage.getItem(NOTE);
    if (note) { sessionStorage.removeItem(NOTE); window.retrainFlash(note, false); }
    document.querySelectorAll("button[data-model-action]").forEach((b) => b.addEventListener("click", () => modelAction(b)));
    const form = document.getElementById("run-form");
    if (form) form.addEventListener("submit", (ev) => { ev.preventDefault(); startRun(form); });
  });
})();
