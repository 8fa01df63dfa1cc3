// Polls the download job's status (study-download-status) until it is ready, failed or expired.
(function () {
  "use strict";
  var box = document.getElementById("download");
  if (!box) return;
  var state = document.getElementById("download-state");
  var bar = document.getElementById("download-bar");
  var link = document.getElementById("download-link");
  var messages = { queued: "Waiting for its turn…", building: "Preparing the download…", ready: "Ready." };

  function show(status) {
    bar.max = Math.max(status.total, 1);
    bar.value = status.done;
    if (status.state === "failed") {
      state.textContent = "The download could not be prepared: " + status.error;
    } else if (status.state === "expired") {
      state.textContent = "This download has expired.";
      link.hidden = true;
    } else {
      state.textContent = messages[status.state] + " " + status.done + " of " + status.total + " images.";
    }
    if (status.file_url) {
      link.href = status.file_url;
      link.hidden = false;
    }
    return status.state === "queued" || status.state === "building";
  }

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) { if (status && show(status)) window.setTimeout(poll, 1000); })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  poll();
})();
