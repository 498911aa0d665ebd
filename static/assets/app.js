// Portico: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  // Copy buttons: <button data-copy="#id">.
  $$("[data-copy]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var el = $(btn.getAttribute("data-copy"));
      if (!el) return;
      var text = el.value || el.textContent.trim();
      var done = function () {
        var label = btn.textContent;
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = label; }, 1600);
      };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () { el.select && el.select(); });
      else if (el.select) { el.select(); document.execCommand("copy"); done(); }
    });
  });

  // Character count for the personal message.
  $$("textarea[data-count]").forEach(function (ta) {
    var out = $(ta.getAttribute("data-count"));
    var max = parseInt(ta.getAttribute("maxlength"), 10);
    var update = function () { out.textContent = ta.value.length + " / " + max + " characters"; };
    ta.addEventListener("input", update);
    update();
  });

  // Live address check: debounced GET /invitations/check?email=…, answered with a small fragment.
  var email = $("input[data-check]");
  if (email && window.fetch && window.DOMParser) {
    var target = $(email.getAttribute("data-check"));
    var timer, last = "";
    email.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var v = email.value.trim();
        if (v === last || v.indexOf("@") < 1) return;
        last = v;
        fetch("/invitations/check?email=" + encodeURIComponent(v), { credentials: "same-origin", headers: { Accept: "text/html" } })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) {
            if (!html || v !== email.value.trim()) return;
            var doc = new DOMParser().parseFromString(html, "text/html");
            target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes).map(function (n) { return document.adoptNode(n); }));
          })
          .catch(function () {});
      }, 400);
    });
  }

  // Guard forms against double submission.
  $$("form[data-once]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (f.getAttribute("data-sent")) { e.preventDefault(); return; }
      f.setAttribute("data-sent", "1");
      $$("button[type=submit]", f).forEach(function (b) { b.setAttribute("aria-busy", "true"); });
    });
  });

  // Dates in the reader's own time zone; in the page's language when it is not English (a
  // partner's join page), else in the browser's own format.
  var lang = document.documentElement.lang;
  var locale = lang && lang !== "en" ? lang : undefined;
  $$("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) return;
    t.title = t.textContent;
    try {
      t.textContent = d.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  });

  // Focus the error summary so screen readers announce it.
  var summary = $("[data-error-summary]");
  if (summary) summary.focus();
})();
