/* The console's service worker: a village operator who loses the connection can still open the
   proposal form and the outbox (their last copies) and the console's own assets. Nothing else of a
   person's data is kept; the copies go at sign-out. The sending itself is done by offline.js. */
"use strict";
var PAGES = "dtks-console-pages";
var ASSETS = "dtks-console-assets";
var KEPT = ["/proposals/new", "/outbox"];

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    // Content-addressed (?v=hash): a copy is right for as long as its address is asked for.
    event.respondWith(caches.open(ASSETS).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || fetch(request).then(function (reply) {
          if (reply.ok) cache.put(request, reply.clone());
          return reply;
        });
      });
    }));
    return;
  }
  if (request.mode !== "navigate") return;
  var kept = KEPT.indexOf(url.pathname) >= 0;
  event.respondWith(fetch(request).then(function (reply) {
    // Only a page actually shown to a signed-in person (not a redirect to sign in).
    if (kept && reply.ok && !reply.redirected) {
      var copy = reply.clone();
      caches.open(PAGES).then(function (cache) { cache.put(url.pathname, copy); });
    }
    return reply;
  }).catch(function () {
    return caches.open(PAGES).then(function (cache) {
      return cache.match(kept ? url.pathname : "/outbox").then(function (hit) {
        return hit || Response.error();
      });
    });
  }));
});
