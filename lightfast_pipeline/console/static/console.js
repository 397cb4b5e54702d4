// lightfast console: live rows (Server-Sent Events), job details on expand, mutations with the CSRF token,
// relative times. Served as a static file: the Content-Security-Policy admits no inline script.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

function toast(text, isError) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = text;
  box.className = isError ? "show error" : "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.className = ""; }, 5000);
}

async function post(url, body) {
  const options = { method: "POST", headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
  return data;
}

function relative(iso) {
  const seconds = Math.floor((Date.now() - Date.parse(iso)) / 1000);
  if (isNaN(seconds)) return "—";
  if (seconds < 45) return "just now";
  for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit} ago`;
  }
  return "just now";
}

function refreshTimes(root) {
  for (const time of (root || document).querySelectorAll("time[datetime]")) {
    const iso = time.getAttribute("datetime");
    if (iso && iso !== "None") time.textContent = relative(iso);
  }
}

function fromHtml(html, wrapper) {
  const holder = document.createElement(wrapper || "template");
  holder.innerHTML = html.trim();
  return wrapper ? holder.firstElementChild : holder.content.firstElementChild;
}

// The server's `duration` filter (console/render.py), for durations that arrive live.
function duration(ms) {
  if (ms === undefined || ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.floor((ms % 60000) / 1000)} s`;
}

function setStatus(runId, status, durationMs) {
  for (const row of document.querySelectorAll(`[data-run-id="${CSS.escape(runId)}"]`)) {
    if (row.classList.contains("entry")) continue;  // timeline rows are replaced whole
    const label = { success: "completed", failure: "failed", in_progress: null, cancelled: "cancelled" }[status];
    const jobStatus = label || row.dataset.status;
    row.dataset.status = jobStatus;
    for (const badge of row.querySelectorAll(".badge")) {
      badge.textContent = jobStatus;
      badge.className = `badge status-${jobStatus}`;
    }
    if (durationMs !== undefined) {
      for (const cell of row.querySelectorAll(".duration")) cell.textContent = duration(durationMs);
    }
    if (jobStatus !== "queued" && jobStatus !== "running") {
      for (const button of row.querySelectorAll("[data-cancel]")) button.remove();
    }
  }
}

function onEntry(entry) {
  const timeline = document.getElementById("timeline");
  if (timeline && entry.html) {
    const row = fromHtml(entry.html);
    const old = timeline.querySelector(`[data-key="${CSS.escape(row.dataset.key)}"]`);
    if (old) {
      const open = old.querySelector("details").open;
      old.replaceWith(row);
      if (open) row.querySelector("details").open = true;
    } else {
      timeline.prepend(row);
      row.classList.add("fresh");
    }
    bindDetails(row);
  }
  if (entry.run_id && entry.action === "job.run") setStatus(entry.run_id, entry.status, (entry.impact || {}).duration_ms);
  if (entry.run_id && entry.action === "job.cancelled") setStatus(entry.run_id, "cancelled");
  if (entry.run_id && entry.action === "run.failed") setStatus(entry.run_id, "failure");
}

function startStream() {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const source = new EventSource(live.dataset.stream);
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "live: reconnecting…"; live.className = "live"; });
  source.addEventListener("activity", (event) => onEntry(JSON.parse(event.data)));
  window.addEventListener("pagehide", () => source.close());
}

function bindDetails(root) {
  for (const details of root.querySelectorAll("details[data-detail]")) {
    details.addEventListener("toggle", async () => {
      const target = details.querySelector(".job-detail");
      if (!details.open || !target || target.dataset.loaded) return;
      const response = await fetch(details.dataset.detail, { credentials: "same-origin" });
      if (response.ok) {
        target.innerHTML = await response.text();
        target.dataset.loaded = "1";
      }
    });
  }
}

function confirmCancel(text) {
  const dialog = document.getElementById("confirm");
  if (!dialog || !dialog.showModal) return Promise.resolve(window.confirm(text));
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

function bindActions() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-cancel], button[data-reindex], button[data-detect], button[data-connect-github]");
    if (!button) return;
    button.disabled = true;
    try {
      if (button.dataset.cancel) {
        const id = button.dataset.cancel;
        if (!(await confirmCancel(`Job ${id.slice(0, 8)} will stop and be recorded as cancelled by you.`))) return;
        const job = await post(`/console/jobs/${encodeURIComponent(id)}/cancel`);
        setStatus(id, job.status === "cancelled" ? "cancelled" : job.status);
        toast(`Job ${id.slice(0, 8)} cancelled`);
      } else if (button.dataset.reindex) {
        const started = await post(`/console/repositories/${button.dataset.reindex}/reindex`);
        const body = document.querySelector("#recent-jobs tbody");
        if (body && started.html && !body.querySelector(`[data-run-id="${CSS.escape(started.run_id)}"]`)) {
          const row = fromHtml(started.html, "tbody");
          row.classList.add("fresh");
          body.prepend(row);
        }
        toast(`Reindex of ${button.dataset.name} started (${started.matched_files} files)`);
      } else if (button.dataset.detect) {
        const result = await post(`/console/repositories/${button.dataset.detect}/detect-config`);
        const cell = button.closest("tr").querySelector(".config");
        cell.textContent = "";
        const badge = document.createElement("span");
        badge.className = `badge config-${result.status}`;
        badge.textContent = result.status;
        cell.append(badge, " ", result.path || "");
        if (result.error) {
          const error = document.createElement("div");
          error.className = "error";
          error.textContent = result.error;
          cell.append(error);
        }
        toast(`Config: ${result.status}`);
      } else if (button.dataset.connectGithub) {
        await post("/console/repositories", { github: button.dataset.connectGithub, installation_id: button.dataset.installation });
        window.location.reload();
      }
    } catch (error) {
      toast(error.message, true);
    } finally {
      button.disabled = false;
    }
  });
  const pathForm = document.getElementById("connect-path");
  if (pathForm) {
    pathForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post("/console/repositories", { path: pathForm.elements.path.value });
        window.location.reload();
      } catch (error) {
        toast(error.message, true);
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshTimes();
  setInterval(refreshTimes, 30000);
  bindDetails(document);
  bindActions();
  startStream();
});
