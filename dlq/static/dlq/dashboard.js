// The queues page refreshes itself: every few seconds it reads the page's JSON twin
// (data-status-url) and copies each cell's text into the cell with the same queue and
// field. The server writes every cell's text, so nothing here knows what a queue is.
(function () {
  "use strict";
  var note = document.getElementById("dlq-refresh");
  var table = document.getElementById("dlq-queues");
  if (!note || !table) {
    return;
  }
  var problem = note.querySelector("[data-field=problem]");
  var url = note.dataset.statusUrl;
  var interval = parseInt(note.dataset.intervalMs, 10) || 3000;

  function fill(row, cells) {
    row.querySelectorAll("[data-field]").forEach(function (cell) {
      var value = cells[cell.dataset.field];
      if (value === undefined) {
        return;
      }
      cell.textContent = Array.isArray(value) ? value.join("\n") : value;
    });
  }

  function show(data) {
    var byName = {};
    data.queues.forEach(function (queue) {
      byName[queue.queue] = queue;
    });
    table.querySelectorAll("tr[data-queue]").forEach(function (row) {
      var queue = byName[row.dataset.queue];
      if (queue) {
        fill(row, queue.cells);
        row.classList.toggle("dlq-down", queue.down);
      }
    });
    var totals = table.querySelector("tr[data-totals]");
    if (totals) {
      fill(totals, data.totals);
    }
    note.querySelector("[data-field=now]").textContent = data.now;
    note.classList.remove("dlq-failed");
    problem.hidden = true;
  }

  function failed(reason) {
    note.classList.add("dlq-failed");
    problem.textContent = " The last refresh failed (" + reason + "); trying again.";
    problem.hidden = false;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        // A lapsed session is answered with the login page, not JSON.
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) {
          throw new Error("HTTP " + response.status + (response.redirected ? " (logged out?)" : ""));
        }
        return response.json();
      })
      .then(show, function (error) {
        failed(error.message);
      })
      .then(function () {
        window.setTimeout(refresh, interval);
      });
  }

  window.setTimeout(refresh, interval);
})();
