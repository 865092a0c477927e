// Sorting and filtering for the report's tables. Reads cells with textContent and data-sort only:
// record text is never parsed as HTML here.
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent.trim();
  }
  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    var numeric = a !== "" && b !== "" && !isNaN(x) && !isNaN(y) && isFinite(a) && isFinite(b);
    if (numeric) return x - y;
    if (a === "" && b !== "") return 1;
    if (b === "" && a !== "") return -1;
    return a.localeCompare(b);
  }
  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (r1, r2) {
      var order = compare(cellValue(r1, index), cellValue(r2, index));
      return ascending ? order : -order;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = header.textContent;
      header.textContent = "";
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, header); });
    });
  });
  function filterAudit() {
    var query = (document.getElementById("audit-filter") || {}).value || "";
    var kind = (document.getElementById("audit-kind") || {}).value || "";
    query = query.toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(document.querySelectorAll("#audit-table tbody tr"), function (row) {
      var matches = (!kind || row.getAttribute("data-kind") === kind) &&
        (!query || row.textContent.toLowerCase().indexOf(query) !== -1);
      row.hidden = !matches;
      if (matches) shown += 1;
    });
    var count = document.getElementById("audit-count");
    if (count) count.textContent = String(shown);
  }
  var chooser = document.getElementById("audit-sort");
  var auditTable = document.getElementById("audit-table");
  if (chooser && auditTable) {
    chooser.addEventListener("change", function () {
      var index = parseInt(chooser.value, 10);
      var header = auditTable.tHead.rows[0].cells[index];
      header.removeAttribute("aria-sort");
      sortBy(auditTable, index, header);
    });
  }
  ["audit-filter", "audit-kind"].forEach(function (id) {
    var element = document.getElementById(id);
    if (element) element.addEventListener("input", filterAudit);
  });
})();
