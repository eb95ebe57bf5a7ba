/* dailypapers: render math with KaTeX, and keep focus sensible when htmx adds cards. No framework. */
(function () {
  "use strict";

  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false }
  ];

  /* Typeset the math in every .tex element under root (titles, abstracts, summaries). */
  function renderMath(root) {
    if (typeof window.renderMathInElement !== "function" || !root || !root.querySelectorAll) return;
    var nodes = root.matches && root.matches(".tex") ? [root] : [];
    nodes = nodes.concat(Array.prototype.slice.call(root.querySelectorAll(".tex")));
    nodes.forEach(function (el) {
      if (el.dataset.math === "done") return;
      el.dataset.math = "done";
      window.renderMathInElement(el, { delimiters: DELIMITERS, throwOnError: false, strict: "ignore" });
    });
  }

  /* "Copy" buttons: data-copy names the field whose text goes to the clipboard (no inline script: CSP) */
  function copyOnClick(evt) {
    var button = evt.target.closest && evt.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    var status = button.parentNode.querySelector(".copied");
    var said = function (text) { if (status) status.textContent = text; };
    var text = field.value !== undefined ? field.value : field.textContent;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { said("Copied"); }, function () {
        field.select(); said("Selected: press Ctrl+C");
      });
    } else {
      field.select();
      said(document.execCommand && document.execCommand("copy") ? "Copied" : "Selected: press Ctrl+C");
    }
  }

  function start() {
    document.addEventListener("click", copyOnClick);
    if (window.htmx) {
      window.htmx.onLoad(renderMath); /* called for the body at start and for every swapped-in piece */
      /* htmx leaves 4xx answers out; one that says X-Swap-Error (a refused comment, its reason shown
         above the form) is swapped in like any other */
      document.body.addEventListener("htmx:beforeSwap", function (evt) {
        var xhr = evt.detail.xhr;
        if (xhr && xhr.status >= 400 && xhr.getResponseHeader("X-Swap-Error") === "true") {
          evt.detail.shouldSwap = true;
          evt.detail.isError = false;
        }
      });
      /* any other refused htmx request: its reason (the JSON "error", or the error page's message)
         shown next to what sent it, as text, instead of nothing happening */
      document.body.addEventListener("htmx:responseError", function (evt) {
        var elt = evt.detail.elt, xhr = evt.detail.xhr;
        if (!elt || !elt.parentNode || !xhr) return;
        var said = "";
        var type = xhr.getResponseHeader("Content-Type") || "";
        try {
          if (type.indexOf("json") >= 0) said = JSON.parse(xhr.responseText).error || "";
          else if (type.indexOf("html") >= 0) {
            var shown = new DOMParser().parseFromString(xhr.responseText, "text/html").querySelector(".error-message");
            said = shown ? shown.textContent : "";
          }
        } catch (e) { said = ""; }
        var note = elt.parentNode.querySelector(":scope > .htmx-error");
        if (!note) {
          note = document.createElement("p");
          note.className = "form-error htmx-error";
          note.setAttribute("role", "alert");
          elt.parentNode.insertBefore(note, elt);
        }
        note.textContent = said || "That did not work. Reload the page and try again.";
      });
      document.body.addEventListener("htmx:beforeRequest", function (evt) {
        var more = evt.detail.elt;
        if (more && more.closest && more.closest("#more")) {
          var cards = document.querySelectorAll("#cards > li");
          window.__dpCardsBefore = cards.length;
        }
      });
      document.body.addEventListener("htmx:afterSettle", function (evt) {
        if (typeof window.__dpCardsBefore !== "number") return;
        var cards = document.querySelectorAll("#cards > li");
        var first = cards[window.__dpCardsBefore];
        window.__dpCardsBefore = undefined;
        var link = first && first.querySelector(".card-title a");
        if (link) link.focus({ preventScroll: false }); /* keyboard users continue at the first new card */
      });
    }
    renderMath(document.body); /* idempotent: elements already typeset are skipped */
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
