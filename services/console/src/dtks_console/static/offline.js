/* Offline drafting for village operators (no framework). The new-household form is kept as a draft
   in IndexedDB while it is typed; sent without a connection, it waits in the browser's outbox
   ("waiting to send") and is sent by itself when the connection comes back, with the idempotency
   key the form was given, so the proposal service records it once however often the send is tried
   (an answer lost on the way back, two tabs at once). Each entry keeps what the service answered.
   Entries belong to the person who made them: on a shared computer nobody else's are sent. */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.dataset.owner;
  if (!me || !window.indexedDB) return;
  var RETRY_MS = 5000;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch(function () {});
  }

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open("dtks-console", 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("outbox", { keyPath: "key" });
        req.result.createObjectStore("drafts", { keyPath: "key" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(store, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode), result;
        var req = work(t.objectStore(store));
        if (req) req.onsuccess = function () { result = req.result; };
        t.oncomplete = function () { db.close(); resolve(result); };
        t.onerror = function () { db.close(); reject(t.error); };
      });
    });
  }
  function all(store) {
    return tx(store, "readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).filter(function (e) { return e.owner === me; })
        .sort(function (a, b) { return a.created < b.created ? -1 : 1; });
    });
  }
  function put(store, item) { return tx(store, "readwrite", function (s) { s.put(item); }); }
  function drop(store, key) { return tx(store, "readwrite", function (s) { s.delete(key); }); }
  function newKey() {
    return window.crypto && crypto.randomUUID ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function fieldsOf(form) {
    var out = [];
    new FormData(form).forEach(function (v, k) { if (typeof v === "string" && k !== "csrf") out.push([k, v]); });
    return out;
  }
  function csrf() {
    var input = document.querySelector("input[name=csrf]");
    return input ? input.value : "";
  }
  function when(iso) {  // in the console's language, whatever the browser's
    return new Date(iso).toLocaleString(document.documentElement.lang, { dateStyle: "long", timeStyle: "short" });
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  /* ---- sending what waits ------------------------------------------------------------------ */

  var flushing = false;
  function flush() {
    if (flushing || !navigator.onLine) return Promise.resolve();
    flushing = true;
    var run = function () {
      return all("outbox").then(function (items) {
        var waiting = items.filter(function (e) { return e.state === "waiting"; });
        return waiting.reduce(function (p, entry) { return p.then(function () { return send(entry); }); },
          Promise.resolve());
      });
    };
    // One sender at a time across the person's tabs (where the browser can say so); the key makes
    // a second sending harmless anyway.
    var locked = navigator.locks ? navigator.locks.request("dtks-outbox", run) : run();
    return locked.catch(function () {}).then(function () { flushing = false; render(); });
  }

  function send(entry) {
    var body = new URLSearchParams(entry.fields);
    body.set("csrf", csrf());
    entry.tries = (entry.tries || 0) + 1;
    return fetch(entry.url, {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (reply) {
      if (reply.status === 401) { entry.note = "sign_in"; return put("outbox", entry); }
      if (!reply.ok) { entry.note = "http " + reply.status; return put("outbox", entry); }
      return reply.json().then(function (answer) {
        entry.state = answer.ok ? "sent" : "refused";
        entry.answer = answer;
        entry.sent = new Date().toISOString();
        entry.note = null;
        return put("outbox", entry);
      });
    }).catch(function () {
      entry.note = "offline";  // no answer (or it was lost): still waiting, sent again with its key
      return put("outbox", entry);
    });
  }

  /* ---- showing it -------------------------------------------------------------------------- */

  var box = document.getElementById("outbox");
  var form = document.querySelector("form[data-outbox]");
  var texts = box ? JSON.parse(box.dataset.texts) : {};

  function render() {
    return Promise.all([all("outbox"), all("drafts")]).then(function (found) {
      var outbox = found[0], drafts = found[1];
      var waiting = outbox.filter(function (e) { return e.state === "waiting"; });
      var count = document.getElementById("outbox-count");
      if (count) count.textContent = waiting.length ? "(" + waiting.length + ")" : "";
      var banner = document.getElementById("outbox-saved");
      if (banner && banner.dataset.key) {
        var mine = outbox.filter(function (e) { return e.key === banner.dataset.key; })[0];
        if (mine && mine.state !== banner.dataset.state) {
          banner.dataset.state = mine.state;
          var said = form && form.dataset[mine.state];  // what became of it, said where it was sent
          if (said) banner.textContent = said;
        }
      }
      if (!box) return;
      var state = document.getElementById("outbox-state");
      var signIn = waiting.some(function (e) { return e.note === "sign_in"; });
      state.textContent = !navigator.onLine ? texts.offline : signIn ? texts.sign_in : texts.online;
      list("outbox-waiting", waiting, describeEntry);
      list("outbox-sent", outbox.filter(function (e) { return e.state !== "waiting"; }).reverse(), describeEntry);
      list("outbox-drafts", drafts, describeDraft);
    });
  }
  function list(id, items, describe) {
    var ul = document.getElementById(id);
    ul.textContent = "";
    if (!items.length) ul.appendChild(el("li", texts.empty, "empty"));
    items.forEach(function (e) { ul.appendChild(describe(e)); });
  }
  function household(fields) {
    var get = function (name) {
      var f = fields.filter(function (p) { return p[0] === name; })[0];
      return f ? f[1] : "";
    };
    return "KK " + (get("kk_number") || "—") + " · " + (get("members-0-name") || "") + " · " + get("address_street");
  }
  function describeEntry(e) {
    var li = el("li", null, "entry " + e.state);
    li.dataset.key = e.key;
    li.appendChild(el("strong", texts[e.state] || e.state, "state"));
    li.appendChild(el("span", " · " + household(e.fields) + " · " + texts.kept + " " + when(e.created)));
    if (e.answer) {
      var said = el("div", null, "answer");
      if (e.answer.ok) {
        said.appendChild(el("span", texts.answer + ": " + texts.recorded + " "));
        var a = el("a", e.answer.proposal_id.slice(0, 8));
        a.href = "/proposals/" + e.answer.proposal_id;
        said.appendChild(a);
      } else {
        said.textContent = texts.answer + ": " + (e.answer.detail || "") + " " + (e.answer.errors || []).join(" ");
        said.appendChild(document.createTextNode(" "));
        said.appendChild(correct(e));
      }
      li.appendChild(said);
    }
    return li;
  }
  // A refused entry goes back to the form as a draft, to be corrected and sent again. Nothing of it
  // was recorded, and it gets a key of its own: the corrected form is a new sending.
  function correct(e) {
    var button = el("button", texts.correct, "secondary");
    button.type = "button";
    button.addEventListener("click", function () {
      var key = newKey();
      var fields = e.fields.map(function (p) { return p[0] === "idempotency_key" ? [p[0], key] : p; });
      put("drafts", { key: key, owner: me, created: new Date().toISOString(), fields: fields })
        .then(function () { return drop("outbox", e.key); })
        .then(function () { location.href = "/proposals/new?draft=" + encodeURIComponent(key); });
    });
    return button;
  }
  function describeDraft(d) {
    var li = el("li", null, "entry draft");
    li.appendChild(el("strong", texts.draft, "state"));
    li.appendChild(el("span", " · " + household(d.fields) + " · " + when(d.created) + " · "));
    var a = el("a", texts["continue"]);
    a.href = "/proposals/new?draft=" + encodeURIComponent(d.key);
    li.appendChild(a);
    return li;
  }

  /* ---- the form: drafts, and sending without a connection -------------------------------- */

  if (form) {
    var keyInput = form.querySelector("input[name=idempotency_key]");
    var typedAt = null;
    var refused = !!document.querySelector(".field-error, #form-problem");

    // A page shown again (from the service worker's copy, or the browser's history) carries a key
    // already used: the next proposal made on it gets its own.
    tx("outbox", "readonly", function (s) { return s.get(keyInput.value); }).then(function (used) {
      if (used) keyInput.value = newKey();
      return offerDraft();
    });

    form.addEventListener("input", function () {
      clearTimeout(typedAt);
      typedAt = setTimeout(function () {
        put("drafts", { key: keyInput.value, owner: me, created: new Date().toISOString(), fields: fieldsOf(form) });
      }, 400);
    });

    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.value !== "submit") return;  // "add a member row" needs the server
      clearTimeout(typedAt);
      var key = keyInput.value;
      if (navigator.onLine) {
        drop("drafts", key);
        return;
      }
      event.preventDefault();
      var fields = fieldsOf(form).filter(function (p) { return p[0] !== "action"; });
      fields.push(["action", "submit"]);
      var entry = { key: key, owner: me, url: form.dataset.outbox, fields: fields,
        created: new Date().toISOString(), state: "waiting" };
      put("outbox", entry).then(function () { return drop("drafts", key); }).then(function () {
        var banner = document.getElementById("outbox-saved") || el("p", null, "done");
        banner.id = "outbox-saved";
        banner.setAttribute("role", "status");
        banner.dataset.key = key;
        banner.textContent = form.dataset.saved;
        form.parentNode.insertBefore(banner, form);
        form.reset();
        keyInput.value = newKey();  // what is typed next is another proposal
        render();
      });
    });

    var offerDraft = function () {
      if (refused) return;  // the server gave the form back with what was typed: that is the draft
      var wanted = new URLSearchParams(location.search).get("draft");
      return all("drafts").then(function (drafts) {
        var draft = drafts.filter(function (d) { return !wanted || d.key === wanted; }).pop();
        // (The page may be the worker's copy of the very form the draft was typed in: same key.)
        if (!draft) return;
        var offer = el("p", form.dataset.draft + " ", "draft-offer");
        var button = el("button", form.dataset.restore, "secondary");
        button.type = "button";
        button.addEventListener("click", function () { restore(draft); offer.remove(); });
        offer.appendChild(button);
        form.parentNode.insertBefore(offer, form);
        if (wanted) button.click();
      });
    };

    var restore = function (draft) {
      var rows = draft.fields.filter(function (p) { return p[0] === "member_rows"; })[0];
      addRows(rows ? parseInt(rows[1], 10) : 0);
      form.querySelectorAll("input[type=checkbox]").forEach(function (c) { c.checked = false; });
      draft.fields.forEach(function (p) {
        if (p[0] === "csrf") return;
        var named = form.querySelectorAll('[name="' + p[0] + '"]');
        named.forEach(function (input) {
          if (input.type === "checkbox") { if (input.value === p[1]) input.checked = true; }
          else input.value = p[1];
        });
      });
    };

    // Member rows beyond those the page has: copies of the last row, renumbered.
    var addRows = function (wanted) {
      var body = form.querySelector("table.members tbody");
      var count = form.querySelector("input[name=member_rows]");
      if (!body || !count) return;
      while (body.rows.length < wanted) {
        var index = body.rows.length;
        var row = body.rows[index - 1].cloneNode(true);
        row.querySelectorAll("[id],[name],[aria-describedby]").forEach(function (node) {
          ["id", "name", "aria-describedby"].forEach(function (attr) {
            var v = node.getAttribute(attr);
            if (v) node.setAttribute(attr, v.replace(/members-\d+-/, "members-" + index + "-"));
          });
          if ("value" in node && node.tagName !== "OPTION") node.value = "";
        });
        body.appendChild(row);
      }
      count.value = String(body.rows.length);
    };
  }

  // Signing out on a shared computer: the service worker's copies of pages go (what waits to be
  // sent stays, and only its owner's session will send it).
  var signOut = document.querySelector("form[action='/sign-out']");
  if (signOut && window.caches) {
    signOut.addEventListener("submit", function () { caches.delete("dtks-console-pages"); });
  }

  window.addEventListener("online", function () { render(); flush(); });
  window.addEventListener("offline", render);
  setInterval(function () {
    all("outbox").then(function (items) {
      if (items.some(function (e) { return e.state === "waiting"; })) flush();
    });
  }, RETRY_MS);
  render().then(flush);
})();
