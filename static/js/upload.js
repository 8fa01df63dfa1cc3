// The upload page (templates/imaging/upload.html). Each chosen file is sent on its own request, so that it
// has its own progress bar, a few at a time; the server answers with the ingest jobs it made (one per
// object, several for a ZIP), and the page then polls their states until none is waiting any more.
// Text from files and the server is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  const root = document.querySelector("[data-upload]");
  if (!root) return;

  const SEND_URL = root.dataset.sendUrl;
  const STATES_URL = root.dataset.statesUrl;
  const MAX_BYTES = Number(root.dataset.maxBytes);
  const CSRF_TOKEN = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  // Enough to keep the line busy without one person's folder monopolising the server's workers.
  const CONCURRENT_UPLOADS = 3;
  // The jobs endpoint answers at most this many ids per request.
  const POLL_BATCH = 100;
  const POLL_FASTEST_MS = 1000;
  const POLL_SLOWEST_MS = 5000;

  const STATE_TEXT = {
    queued: "Received",
    stored: "Stored",
    duplicate: "Already stored (duplicate)",
    new_version: "Stored as new version",
  };

  const batchesElement = root.querySelector("[data-batches]");
  const waiting = []; // uploads not yet sent, oldest first
  let sending = 0;
  const followed = new Map(); // job id -> {upload, job}
  let pollTimer = null;
  let pollDelay = POLL_FASTEST_MS;

  // ---- Building the page ---------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatBytes(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + " " + units[unit];
  }

  function newBatch() {
    const section = element("section", "batch card");
    const head = element("div", "batch-head");
    const title = element("strong", "batch-title");
    const bytes = element("span", "batch-bytes muted");
    head.append(title, bytes);
    const bar = element("progress", "batch-bar");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Files done");
    const list = element("ul", "files");
    section.append(head, bar, list);
    section.dataset.testid = "upload-batch";
    batchesElement.prepend(section);
    return { section, title, bytes, bar, list, uploads: [] };
  }

  function newUpload(batch, file, path) {
    const row = element("li", "file");
    row.dataset.testid = "upload-row";
    const line = element("div", "file-line");
    const name = element("span", "file-name", path);
    name.title = path;
    line.append(name, element("span", "file-size muted", formatBytes(file.size)));
    const bar = element("progress", "file-bar");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + path);
    const status = element("p", "file-state", "Waiting to be sent");
    status.dataset.testid = "upload-state";
    row.append(line, bar, status);
    batch.list.append(row);
    const upload = { batch, file, path, row, bar, status, sent: 0, jobs: [], done: false, members: null, failure: null };
    batch.uploads.push(upload);
    return upload;
  }

  function setState(upload, kind, text) {
    upload.row.dataset.state = kind;
    upload.status.textContent = text;
  }

  function refreshBatch(batch) {
    const total = batch.uploads.length;
    const done = batch.uploads.filter((u) => u.done).length;
    const totalBytes = batch.uploads.reduce((sum, u) => sum + u.file.size, 0);
    const sentBytes = batch.uploads.reduce((sum, u) => sum + u.sent, 0);
    const refused = batch.uploads.filter((u) => u.row.dataset.state === "rejected" || u.row.dataset.state === "failed").length;
    batch.title.textContent =
      done + " of " + total + (total === 1 ? " file" : " files") + " done" + (refused ? " · " + refused + (refused === 1 ? " needs" : " need") + " attention" : "");
    batch.bytes.textContent = formatBytes(sentBytes) + " of " + formatBytes(totalBytes) + " sent";
    batch.bar.max = Math.max(total, 1);
    batch.bar.value = done;
    batch.section.classList.toggle("complete", done === total);
  }

  // ---- Choosing files ------------------------------------------------------------------------------

  function addFiles(entries) {
    // entries: [{file, path}]
    if (!entries.length) return;
    const batch = newBatch();
    for (const { file, path } of entries) {
      const upload = newUpload(batch, file, path);
      if (file.size > MAX_BYTES) {
        finish(upload, "rejected", "This file is larger than the " + formatBytes(MAX_BYTES) + " the clinic accepts in one upload.");
      } else {
        waiting.push(upload);
      }
    }
    refreshBatch(batch);
    pump();
  }

  // OS bookkeeping files (.DS_Store and the like) come along with folders; they are never images.
  function isHidden(path) {
    return path.split("/").some((part) => part.startsWith("."));
  }

  for (const input of root.querySelectorAll("input[type=file]")) {
    input.addEventListener("change", () => {
      const fromFolder = input.hasAttribute("webkitdirectory");
      const entries = Array.from(input.files)
        .map((file) => ({ file, path: file.webkitRelativePath || file.name }))
        .filter((entry) => !(fromFolder && isHidden(entry.path)));
      addFiles(entries);
      input.value = "";
    });
  }

  const dropzone = root.querySelector(".dropzone");
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", async (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    // Entries must be taken from the event before the first await: the browser empties it afterwards.
    const entries = Array.from(event.dataTransfer.items)
      .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
      .filter(Boolean);
    if (!entries.length) {
      addFiles(Array.from(event.dataTransfer.files).map((file) => ({ file, path: file.name })));
      return;
    }
    const collected = [];
    for (const entry of entries) await collect(entry, collected);
    addFiles(collected);
  });

  async function collect(entry, into) {
    const path = entry.fullPath.replace(/^\//, "");
    if (entry.isFile) {
      if (!isHidden(path)) into.push({ file: await new Promise((ok, fail) => entry.file(ok, fail)), path });
      return;
    }
    const reader = entry.createReader();
    // readEntries answers in batches (100 in Chromium) until it returns an empty one.
    for (;;) {
      const children = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!children.length) break;
      for (const child of children) await collect(child, into);
    }
  }

  // ---- Sending -------------------------------------------------------------------------------------

  function pump() {
    while (sending < CONCURRENT_UPLOADS && waiting.length) send(waiting.shift());
  }

  function send(upload) {
    sending += 1;
    setState(upload, "sending", "Sending…");
    const form = new FormData();
    form.append("path", upload.path);
    form.append("file", upload.file, upload.file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", SEND_URL);
    xhr.setRequestHeader("X-CSRFToken", CSRF_TOKEN);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      upload.sent = Math.round((event.loaded / event.total) * upload.file.size);
      upload.bar.value = event.loaded / event.total;
      setState(upload, "sending", "Sending… " + Math.floor((100 * event.loaded) / event.total) + "%");
      refreshBatch(upload.batch);
    };
    xhr.upload.onload = () => {
      upload.sent = upload.file.size;
      upload.bar.value = 1;
      setState(upload, "checking", "Checking…");
      refreshBatch(upload.batch);
    };
    xhr.onload = () => answered(upload, xhr);
    xhr.onerror = xhr.onabort = () =>
      failed(upload, "The connection was lost before the file was sent. Check the network, then retry.");
    xhr.onloadend = () => {
      sending -= 1;
      pump();
    };
    xhr.send(form);
  }

  function answered(upload, xhr) {
    if (xhr.responseURL && new URL(xhr.responseURL).pathname.startsWith("/accounts/login/")) {
      failed(upload, "You were signed out. Sign in again in another tab, then retry.");
      return;
    }
    const body = xhr.response && typeof xhr.response === "object" ? xhr.response : null;
    if (body && Array.isArray(body.jobs) && body.jobs.length) received(upload, body.jobs);
    if (xhr.status === 507 || !body || !Array.isArray(body.jobs) || !body.jobs.length) {
      // Sending again helps after a full disk, a server error or an expired token, not after a refusal.
      const retryable = xhr.status === 507 || xhr.status === 403 || xhr.status >= 500;
      failed(upload, messageFor(xhr.status, body), retryable);
    }
  }

  function messageFor(status, body) {
    if (body && body.error) return body.error;
    if (status === 403) return "The page's security check failed. Reload the page, then send the file again.";
    if (status === 404) return "You may no longer upload to this clinic.";
    if (status >= 500) return "The server could not take this file (error " + status + "). Retry; if it keeps failing, tell your administrator.";
    return "The server refused this file (error " + status + ").";
  }

  function failed(upload, message, retryable = true) {
    upload.failure = message;
    finish(upload, "failed", message);
    if (!retryable) return;
    const retry = element("button", "retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      retry.remove();
      upload.done = false;
      upload.failure = null;
      upload.sent = 0;
      upload.bar.value = 0;
      if (upload.members) upload.members.remove();
      upload.members = null;
      setState(upload, "waiting", "Waiting to be sent");
      refreshBatch(upload.batch);
      waiting.push(upload);
      pump();
    });
    upload.status.append(" ", retry);
  }

  function finish(upload, kind, text) {
    upload.done = true;
    setState(upload, kind, text);
    refreshBatch(upload.batch);
  }

  // ---- Following the jobs --------------------------------------------------------------------------

  function received(upload, jobs) {
    upload.jobs = jobs;
    // A ZIP: one line per member under the archive's row. The server names members "<archive> / <member>",
    // and a lone file's name never holds " / " (its path segments are joined without spaces).
    if (jobs.length > 1 || jobs[0].display_name.includes(" / ")) {
      upload.members = element("ul", "members");
      upload.row.append(upload.members);
      for (const job of jobs) {
        const name = job.display_name.slice(job.display_name.indexOf(" / ") + 3);
        job.element = element("li", "member");
        job.element.append(element("span", "file-name", name), element("span", "member-state"));
        upload.members.append(job.element);
      }
    }
    for (const job of jobs) {
      if (job.state === "queued") followed.set(job.id, { upload, job });
    }
    show(upload);
    if (followed.size) poll(true);
  }

  function show(upload) {
    const jobs = upload.jobs;
    for (const job of jobs) {
      if (!job.element) continue;
      job.element.dataset.state = job.state;
      job.element.lastChild.textContent = job.state === "rejected" ? job.error_reason : STATE_TEXT[job.state];
    }
    // A failure (a full disk part-way through a ZIP) stays on the row; the members received still update.
    if (upload.failure) return;
    const queued = jobs.filter((job) => job.state === "queued").length;
    const rejected = jobs.filter((job) => job.state === "rejected");
    if (jobs.length === 1) {
      const job = jobs[0];
      if (job.state === "rejected") finish(upload, "rejected", job.error_reason);
      else if (job.state === "queued") setState(upload, "received", STATE_TEXT.queued);
      else finish(upload, job.state, STATE_TEXT[job.state]);
      return;
    }
    const counts = {};
    for (const job of jobs) counts[job.state] = (counts[job.state] || 0) + 1;
    const parts = [];
    if (counts.stored) parts.push(counts.stored + " stored");
    if (counts.duplicate) parts.push(counts.duplicate + " already stored");
    if (counts.new_version) parts.push(counts.new_version + " stored as new versions");
    if (rejected.length) parts.push(rejected.length + " refused");
    if (queued) parts.push(queued + " received, being indexed");
    const text = jobs.length + " objects: " + parts.join(", ");
    if (queued) setState(upload, "received", text);
    else finish(upload, rejected.length ? "rejected" : "stored", text);
  }

  function poll(soon) {
    if (soon) pollDelay = POLL_FASTEST_MS;
    if (pollTimer !== null) {
      if (!soon) return;
      clearTimeout(pollTimer);
    }
    pollTimer = setTimeout(checkStates, pollDelay);
  }

  async function checkStates() {
    pollTimer = null;
    const ids = Array.from(followed.keys());
    let changed = false;
    for (let start = 0; start < ids.length; start += POLL_BATCH) {
      const query = encodeURIComponent(ids.slice(start, start + POLL_BATCH).join(","));
      let answer;
      try {
        const response = await fetch(STATES_URL + "?ids=" + query, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) break;
        answer = await response.json();
      } catch (error) {
        break; // the network dropped; try again on the next round
      }
      const touched = new Set();
      for (const state of answer.jobs) {
        const entry = followed.get(state.id);
        if (!entry || state.state === "queued") continue;
        entry.job.state = state.state;
        entry.job.error_reason = state.error_reason;
        followed.delete(state.id);
        touched.add(entry.upload);
        changed = true;
      }
      touched.forEach(show);
    }
    if (!followed.size) return;
    // Back off while the worker is busy or down; the jobs stay queued and are indexed later.
    pollDelay = changed ? POLL_FASTEST_MS : Math.min(pollDelay * 1.5, POLL_SLOWEST_MS);
    poll(false);
  }

  window.addEventListener("beforeunload", (event) => {
    if (!sending && !waiting.length) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
