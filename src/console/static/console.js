// hookgate console: a little plain JavaScript, no inline scripts (the CSP forbids them).
// Times in the browser's zone; copy buttons; actions sent to /console/api/v1 with the CSRF
// token; the hook test panel; a run's log followed live.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  function flash(text, isProblem) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.className = isProblem ? "problem" : "ok";
  }

  async function call(method, url, body) {
    const init = { method: method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined && body !== "") {
      init.headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    const text = await resp.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = { message: text }; }
    return { status: resp.status, ok: resp.ok, json: json };
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        t.textContent = d.toLocaleString();
        t.title = t.getAttribute("datetime");
      }
    });
  }

  function wireCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.addEventListener("click", async function () {
        const input = document.getElementById(b.dataset.copy);
        try {
          await navigator.clipboard.writeText(input.value);
          flash("Copied.");
        } catch (_) {
          input.select();
          flash("Select and copy the URL (the clipboard is not available here).");
        }
      });
    });
  }

  function wireActions() {
    document.querySelectorAll("button[data-action]").forEach(function (b) {
      b.addEventListener("click", async function () {
        if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
        b.disabled = true;
        const r = await call("POST", b.dataset.action, b.dataset.body);
        b.disabled = false;
        if (!r.ok) {
          flash((r.json && r.json.message) || ("failed: " + r.status), true);
          return;
        }
        if (b.dataset.showSecret) {
          const out = document.getElementById(b.dataset.showSecret);
          out.hidden = false;
          out.textContent = "New secret (shown once, copy it now): " + r.json.secret;
          flash("Secret rotated.");
          return;
        }
        if (b.dataset.then === "run" && r.json && r.json.run_id) {
          window.location.assign("/console/runs/" + encodeURIComponent(r.json.run_id));
          return;
        }
        flash((r.json && (r.json.message || r.json.reason || r.json.status)) || "Done.");
        if (b.dataset.then === "reload") window.location.reload();
      });
    });
    document.querySelectorAll("input[data-toggle-active]").forEach(function (box) {
      box.addEventListener("change", async function () {
        const id = box.dataset.toggleActive;
        const r = await call("PATCH", "/console/api/v1/hooks/" + encodeURIComponent(id), { is_active: box.checked });
        if (!r.ok) {
          box.checked = !box.checked;
          flash((r.json && r.json.message) || ("failed: " + r.status), true);
          return;
        }
        const label = document.querySelector('[data-active-label="' + id + '"]');
        if (label) {
          label.textContent = box.checked ? "active" : "inactive";
          label.className = "badge " + (box.checked ? "ok" : "off");
        }
        flash(box.checked ? "The hook is active." : "The hook is switched off.");
      });
    });
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showTest(out, r) {
    out.replaceChildren();
    if (!r.ok) {
      out.append(el("p", "problem", (r.json && r.json.message) || ("failed: " + r.status)));
      return;
    }
    const t = r.json;
    out.append(el("p", t.would === "run" ? "ok" : "problem",
      "Would " + t.would + " (status " + t.status + ")" + (t.reason ? ": " + t.reason : "")));
    out.append(el("h3", "", "Variables"));
    out.append(el("pre", "body", JSON.stringify(t.variables, null, 2)));
    if (t.unmatched_paths && t.unmatched_paths.length) {
      out.append(el("p", "problem", "Paths that matched nothing: " + t.unmatched_paths.join(", ")));
    }
    const list = el("ul", "list");
    (t.filters || []).forEach(function (f) {
      list.append(el("li", f.passed ? "ok" : "problem",
        "filter " + f.index + ": " + (f.passed ? "passed" : "did not pass: " + f.reason)));
    });
    if (list.children.length) { out.append(el("h3", "", "Filters")); out.append(list); }
    (t.pipeline_warnings || []).forEach(function (w) { out.append(el("p", "muted", w)); });
  }

  function wireTestPanel() {
    const form = document.getElementById("test-form");
    if (!form) return;
    const hook = form.dataset.hook;
    const payload = document.getElementById("payload");
    const event = document.getElementById("event");
    const out = document.getElementById("test-result");
    const sample = document.getElementById("use-sample");
    if (sample) {
      sample.addEventListener("click", function () {
        const raw = document.getElementById("sample-body").value;
        try { payload.value = JSON.stringify(JSON.parse(raw), null, 2); } catch (_) { payload.value = raw; }
      });
    }
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      const headers = {};
      if (event.dataset.header && event.value) headers[event.dataset.header] = event.value;
      const r = await call("POST", "/console/api/v1/hooks/" + encodeURIComponent(hook) + "/test",
        { headers: headers, body: payload.value, skip_signature: true });
      showTest(out, r);
    });
    const send = document.getElementById("send-real");
    if (send) {
      send.addEventListener("click", async function () {
        send.disabled = true;
        const r = await call("POST", "/console/hooks/" + encodeURIComponent(hook) + "/send",
          { body: payload.value, event: event.value });
        send.disabled = false;
        out.replaceChildren();
        if (!r.ok) {
          out.append(el("p", "problem", (r.json && r.json.message) || ("failed: " + r.status)));
          return;
        }
        const a = r.json.answer || {};
        out.append(el("p", r.json.status === 202 ? "ok" : "problem",
          "Sent: the hook answered " + r.json.status + (a.message ? " (" + a.message + ")" : a.reason ? " (" + a.reason + ")" : "")));
        if (a.run_id) {
          const p = el("p");
          const link = el("a", "", "Open run " + a.run_id);
          link.href = "/console/runs/" + encodeURIComponent(a.run_id);
          link.id = "sent-run";
          p.append(link);
          out.append(p);
        }
      });
    }
  }

  function followRun() {
    const run = document.getElementById("run");
    if (!run || run.dataset.final) return;
    const status = document.getElementById("run-status");
    const steps = document.getElementById("steps");
    const fresh = new Set();
    function setStatus(s) {
      status.textContent = s;
      status.className = "badge s-" + s;
    }
    function section(idx, name) {
      let sec = steps.querySelector('section[data-idx="' + idx + '"]');
      if (!sec) {
        const none = document.getElementById("no-steps");
        if (none) none.remove();
        sec = el("section", "step card");
        sec.dataset.idx = idx;
        sec.setAttribute("aria-label", "step " + name);
        const h = el("h3", "", name + " ");
        const badge = el("span", "badge");
        badge.setAttribute("data-step-status", "");
        h.append(badge);
        const log = el("pre", "log");
        log.tabIndex = 0;
        log.setAttribute("data-log", "");
        sec.append(h, log);
        steps.append(sec);
      }
      // The stream starts from the beginning of each log: replace what the page rendered.
      if (!fresh.has(idx)) {
        fresh.add(idx);
        sec.querySelector("[data-log]").textContent = "";
      }
      return sec;
    }
    const es = new EventSource("/console/api/v1/runs/" + encodeURIComponent(run.dataset.run) + "/logs?follow=true");
    es.addEventListener("step", function (e) {
      const d = JSON.parse(e.data);
      const badge = section(d.idx, d.name).querySelector("[data-step-status]");
      badge.textContent = d.status;
      badge.className = "badge s-" + d.status;
      if (status.textContent === "queued") setStatus("running");
    });
    es.addEventListener("log", function (e) {
      const d = JSON.parse(e.data);
      section(d.idx, d.step).querySelector("[data-log]").append(d.text);
      if (status.textContent === "queued") setStatus("running");
    });
    es.addEventListener("end", function (e) {
      const d = JSON.parse(e.data);
      es.close();
      setStatus(d.status);
      run.dataset.final = "1";
      flash("The run ended: " + d.status + ". Reload the page for its final timings and controls.");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    wireCopy();
    wireActions();
    wireTestPanel();
    followRun();
  });
})();
