// Keyboard shortcuts for the rating page: 1-8 the expression, A S D F real or generated, Enter the next face.
(function () {
  "use strict";
  var form = document.getElementById("answer");
  if (!form) return;
  var shown = Date.now();
  var sent = false;
  function pick(name, key) {
    var box = form.querySelector('input[name="' + name + '"][data-key="' + key + '"]');
    if (box) box.checked = true;
    return !!box;
  }
  form.addEventListener("submit", function (event) {
    if (sent || !form.checkValidity()) { event.preventDefault(); return; }
    sent = true;  // one submission per face; the server ignores a repeat anyway
    document.getElementById("elapsed").value = String(Date.now() - shown);
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key.toLowerCase();
    if (key === "enter") {
      event.preventDefault();
      if (form.checkValidity()) form.requestSubmit(); else form.reportValidity();
    } else if (pick("expression", key) || pick("judgement", key)) {
      event.preventDefault();
    }
  });
})();
