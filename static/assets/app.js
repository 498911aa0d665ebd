// Portico: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  // A page about something still in progress (an invitation still sending) reloads itself until it
  // is settled: <p data-refresh="seconds">. Without JavaScript a <noscript> meta refresh does it.
  var refresh = $("[data-refresh]");
  if (refresh) {
    var secs = parseInt(refresh.getAttribute("data-refresh"), 10);
    if (secs > 0) setTimeout(function () { window.location.reload(); }, secs * 1000);
  }

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

  // Character count for the personal message: shown at once, told to screen readers after a pause.
  // There is no maxlength (a browser would cut a long paste silently): going over says by how much,
  // and the server refuses it with a message by the field.
  $$("textarea[data-count]").forEach(function (ta) {
    var out = $(ta.getAttribute("data-count")), live = $(ta.getAttribute("data-count-live") || "#none");
    var max = parseInt(ta.getAttribute("data-max"), 10), timer;
    var text = function () {
      var n = ta.value.length;
      if (!(max > 0)) return n + " characters";
      if (n > max) return n + " characters: " + (n - max) + " over the limit of " + max + ". Shorten the message to send it.";
      return (max - n) + " of " + max + " characters left";
    };
    var update = function () {
      out.textContent = text();
      out.classList.toggle("over", max > 0 && ta.value.length > max);
    };
    ta.addEventListener("input", function () {
      update();
      clearTimeout(timer);
      if (live) timer = setTimeout(function () { live.textContent = text(); }, 1000);
    });
    update();
  });

  // Microsoft ignores the email language when a personal message is written: say so by the field.
  var msg = $("#customizedMessageBody"), ignored = $("[data-language-ignored]"), langSelect = $("#messageLanguage");
  if (msg && ignored && langSelect) {
    var base = langSelect.getAttribute("aria-describedby") || "";
    var note = function () {
      var on = msg.value.trim() !== "";
      ignored.hidden = !on;
      langSelect.setAttribute("aria-describedby", on ? (base + " " + ignored.id).trim() : base);
    };
    msg.addEventListener("input", note);
    note();
  }

  // The submit button says what will happen: an email is sent, or a link is created to share.
  var sendEmail = $("#sendInvitationMessage"), submit = $("button[data-label-email]");
  if (sendEmail && submit) {
    var label = function () {
      submit.textContent = submit.getAttribute(sendEmail.checked ? "data-label-email" : "data-label-link");
    };
    sendEmail.addEventListener("change", label);
    label();
  }

  // Live address check: debounced GET /invitations/check?email=…, answered with a small fragment.
  var email = $("input[data-check]");
  if (email && window.fetch && window.DOMParser) {
    var target = $(email.getAttribute("data-check"));
    var timer, last = "";
    email.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var v = email.value.trim();
        if (v === last) return;
        last = v;
        if (v.indexOf("@") < 1) { target.replaceChildren(); return; }
        fetch("/invitations/check?email=" + encodeURIComponent(v), { credentials: "same-origin", headers: { Accept: "text/html" } })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) {
            if (v !== email.value.trim()) return;
            if (!html) { target.replaceChildren(); return; }
            var doc = new DOMParser().parseFromString(html, "text/html");
            target.replaceChildren.apply(target, Array.prototype.slice.call(doc.body.childNodes).map(function (n) { return document.adoptNode(n); }));
          })
          .catch(function () {});
      }, 400);
    });
  }

  // Sponsors picker: each sponsor field stays a plain address field; while typing, members of the
  // organization whose name or address starts with the text are offered in the shared datalist
  // (GET /people?q=…, answered by Portico from Microsoft Graph).
  var people = $$("input[data-people]"), list = $("#people-list");
  if (people.length && list && window.fetch) {
    people.forEach(function (input) {
      var ptimer, plast = "";
      input.addEventListener("input", function () {
        clearTimeout(ptimer);
        ptimer = setTimeout(function () {
          var v = input.value.trim();
          if (v === plast || v.length < 2 || v.indexOf("@") > 0 && v.indexOf(".", v.indexOf("@")) > 0) return;
          plast = v;
          fetch(input.getAttribute("data-people") + "?q=" + encodeURIComponent(v), { credentials: "same-origin", headers: { Accept: "application/json" } })
            .then(function (r) { return r.ok ? r.json() : []; })
            .then(function (found) {
              if (v !== input.value.trim()) return;
              list.replaceChildren.apply(list, found.map(function (p) {
                var o = document.createElement("option");
                o.value = p.address;
                o.textContent = p.name ? p.name + " (" + p.address + ")" : p.address;
                return o;
              }));
            })
            .catch(function () {});
        }, 300);
      });
    });
  }

  // Guard forms against double submission; a page restored by the Back button is usable again.
  var forms = $$("form[data-once]");
  forms.forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (f.getAttribute("data-sent")) { e.preventDefault(); return; }
      f.setAttribute("data-sent", "1");
      $$("button[type=submit]", f).forEach(function (b) { b.setAttribute("aria-busy", "true"); b.disabled = true; });
    });
  });
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    forms.forEach(function (f) {
      f.removeAttribute("data-sent");
      $$("button[type=submit]", f).forEach(function (b) { b.removeAttribute("aria-busy"); b.disabled = false; });
    });
  });

  // Dates in the reader's own time zone, in the one format the server writes too ("28 Nov 2026,
  // 09:31 UTC": day, short month, year, 24-hour time, zone); in the page's language when it is not
  // English (a partner's join page).
  var lang = document.documentElement.lang;
  var locale = lang && lang !== "en" ? lang : "en-GB";
  var dateFormat = { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  $$("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) return;
    t.title = t.textContent;
    try {
      t.textContent = d.toLocaleString(locale, dateFormat);
    } catch (e) {
      t.textContent = d.toLocaleString("en-GB", dateFormat);
    }
    if (t.hasAttribute("data-relative") && window.Intl && Intl.RelativeTimeFormat) t.textContent += " (" + ago(d) + ")";
  });

  // ago is "5 minutes ago", "2 hours ago" or "3 days ago".
  function ago(d) {
    var m = Math.max(0, Math.round((Date.now() - d) / 60000)), rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
    if (m < 60) return rtf.format(-m, "minute");
    if (m < 1440) return rtf.format(-Math.round(m / 60), "hour");
    return rtf.format(-Math.round(m / 1440), "day");
  }

  // Focus the error summary so screen readers announce it.
  var summary = $("[data-error-summary]");
  if (summary) summary.focus();
})();
