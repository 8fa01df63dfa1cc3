// Polls each running export's status (research-export-status) until it is done, failed or expired.
(function () {
  "use strict";
  var labels = { queued: "Waiting", running: "Running", done: "Done", failed: "Failed", expired: "Expired" };

  function follow(row) {
    var bar = row.querySelector("[data-role=bar]");
    var state = row.querySelector("[data-role=state]");
    var file = row.querySelector("[data-role=file]");

    function show(status) {
      bar.max = Math.max(status.total, 1);
      bar.value = status.done;
      state.textContent = labels[status.state] + (status.error ? ": " + status.error : "") +
        (status.state === "running" ? " " + status.done + " of " + status.total + " images." : "");
      file.hidden = !status.file_url;
      if (status.state === "done" && !row.dataset.reloaded) {
        row.dataset.reloaded = "1";
        window.location.reload(); // the report is rendered by the page
      }
      return status.state === "queued" || status.state === "running";
    }

    function poll() {
      fetch(row.dataset.exportStatusUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) { if (status && show(status)) window.setTimeout(poll, 1000); })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    poll();
  }

  document.querySelectorAll("[data-export-status-url]").forEach(function (row) {
    var state = row.querySelector("[data-role=state]").textContent.trim();
    if (state.indexOf("Waiting") === 0 || state.indexOf("Running") === 0) follow(row);
  });
})();
