/* The portal's small script: local times, local date inputs, and the timeline's time control.
   Everything works without it (times in UTC, forms submit to the page). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var localFormat = new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hourCycle: "h23",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  // "2026-11-25 21:59:55 CET": sortable like the UTC text it replaces.
  function formatLocal(when) {
    var p = {};
    localFormat.formatToParts(when).forEach(function (part) { p[part.type] = part.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " + p.timeZoneName;
  }

  function localTimes(root) {
    root.querySelectorAll("time.portal-time").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = formatLocal(when); }
    });
  }

  function pad(n) { return String(n).padStart(2, "0"); }
  function toLocalInput(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d)) { return ""; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function toUtc(localValue) {
    var d = new Date(localValue);  // a datetime-local value is read in the browser's zone
    return isNaN(d) ? localValue : d.toISOString().replace(".000Z", "Z");
  }

  // Date inputs show and take the reader's local time; the URL carries UTC.
  function localInputs(root) {
    root.querySelectorAll("form[data-local-times]").forEach(function (form) {
      form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
        input.value = toLocalInput(input.dataset.utc);
      });
      form.addEventListener("submit", function () {
        form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
          if (!input.value) { input.disabled = true; return; }
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = input.name; hidden.value = toUtc(input.value);
          input.removeAttribute("name");
          form.appendChild(hidden);
        });
      });
    });
  }

  // The same tree as the server's json_tree tag, built with text nodes only.
  function tree(value) {
    var badge = value && typeof value === "object" && !Array.isArray(value) &&
      Object.keys(value).length === 1 && (value.masked === true || value.erased === true);
    if (badge) {
      var m = document.createElement("span");
      if (value.erased === true) {
        m.className = "portal-masked portal-erased"; m.textContent = "erased";
        m.title = "Personal data erased: the data subject's key was destroyed";
      } else {
        m.className = "portal-masked"; m.textContent = "masked";
        m.title = "Personal data: your access does not include it";
      }
      return m;
    }
    if (value === null || typeof value !== "object" || Object.keys(value).length === 0) {
      var s = document.createElement("span");
      s.className = typeof value === "string" ? "portal-string" : "portal-scalar";
      s.textContent = (value !== null && typeof value === "object") ? (Array.isArray(value) ? "[]" : "{}") : JSON.stringify(value);
      return s;
    }
    var ul = document.createElement("ul");
    ul.className = "portal-tree";
    Object.keys(value).forEach(function (key) {
      var li = document.createElement("li"), k = document.createElement("span");
      k.className = "portal-key"; k.textContent = key;
      li.appendChild(k); li.appendChild(document.createTextNode(": "));
      li.appendChild(tree(value[key]));
      ul.appendChild(li);
    });
    return ul;
  }

  function timeControl() {
    var panel = document.getElementById("state-panel");
    if (!panel) { return; }
    var api = panel.dataset.stateApi, slider = document.getElementById("seq-slider"),
      output = document.getElementById("seq-output"), meta = document.getElementById("state-meta"),
      holder = document.getElementById("state-tree"), momentForm = document.getElementById("moment-control"),
      timer = null, latest = 0, atInput = document.getElementById("at-input");
    atInput.value = toLocalInput(atInput.dataset.utc);

    function show(params, urlParams) {
      var ticket = ++latest;
      meta.textContent = "Loading…";
      fetch(api + "?" + new URLSearchParams(params), {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          return response.json().then(function (body) { return {ok: response.ok, body: body}; });
        })
        .then(function (answer) {
          if (ticket !== latest) { return; }
          if (!answer.ok) {
            meta.textContent = "Could not replay: " + (answer.body.detail || "error");
            meta.classList.add("portal-error");
            return;
          }
          var state = answer.body;
          meta.classList.remove("portal-error");
          // The same markup as the server's: #state-sequence, #state-asof, a <time> titled in UTC.
          var strong = document.createElement("strong");
          strong.id = "state-sequence"; strong.textContent = "#" + state.sequence;
          meta.replaceChildren("After event ", strong);
          if (state.as_of) {
            var t = document.createElement("time"), span = document.createElement("span"),
              utc = new Date(state.as_of).toISOString().slice(0, 19).replace("T", " ") + " UTC";
            t.className = "portal-time"; t.setAttribute("datetime", state.as_of); t.title = utc;
            t.textContent = utc;
            span.id = "state-asof"; span.appendChild(t);
            meta.append(", as of ", span);
            localTimes(meta);
          }
          meta.append((state.deleted ? " — deleted" : "") + ".");
          holder.replaceChildren(tree(state.state));
          slider.value = state.sequence;
          output.textContent = "#" + state.sequence + " of " + slider.max;
          var url = new URL(window.location.href);
          ["sequence", "at", "time"].forEach(function (n) { url.searchParams.delete(n); });
          Object.keys(urlParams).forEach(function (n) { url.searchParams.set(n, urlParams[n]); });
          window.history.replaceState(null, "", url);
          document.querySelectorAll(".portal-entry.portal-current").forEach(function (el) { el.classList.remove("portal-current"); });
          var entry = document.getElementById("seq-" + state.sequence);
          if (entry) { entry.classList.add("portal-current"); }
        })
        .catch(function () { meta.textContent = "Could not replay: the server did not answer."; });
    }

    slider.addEventListener("input", function () {
      output.textContent = "#" + slider.value + " of " + slider.max;
      clearTimeout(timer);
      timer = setTimeout(function () { show({sequence: slider.value}, {sequence: slider.value}); }, 250);
    });
    momentForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var time = document.getElementById("time-select").value;
      if (!atInput.value) { meta.textContent = "Choose a date and time first."; return; }
      var at = toUtc(atInput.value);
      show({at: at, time: time}, {at: at, time: time});
    });
  }

  // The report form shows the parameters the chosen report takes.
  function reportForm() {
    var select = document.getElementById("report-type");
    if (!select) { return; }
    function sync() {
      var accepts = select.options[select.selectedIndex].dataset.accepts.split(" ");
      document.querySelectorAll(".portal-param").forEach(function (row) {
        var on = accepts.indexOf(row.dataset.param) >= 0;
        row.hidden = !on;
        row.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
      });
    }
    select.addEventListener("change", sync);
    sync();
    var form = document.getElementById("report-form");
    form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
      if (input.value && /Z$|[+-]\d\d:\d\d$/.test(input.value)) { input.value = toLocalInput(input.value); }
    });
    form.addEventListener("submit", function () {  // local date inputs travel as UTC
      form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
        if (!input.value || input.disabled) { return; }
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = input.name; hidden.value = toUtc(input.value);
        input.removeAttribute("name");
        form.appendChild(hidden);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    localInputs(document);
    timeControl();
    reportForm();
  });
}());
