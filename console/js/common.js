/* common.js - what every console page shares: the API client (session cookie,
 * CSRF header on every POST), the page header, and small DOM helpers.
 *
 * Plain browser JavaScript, no build step, no framework. Every page loads this
 * file first; it defines one global, TC. Text from the server always goes into
 * the page as text (textContent), never as HTML, so a device name cannot inject
 * markup. */
"use strict";

var TC = (function () {
    var csrf = "";          /* this session's CSRF token, from /me or /login */
    var me = null;          /* {user, role, csrf, idleMinutes} */

    /* An error the API answered with: its status and the server's own text,
     * which the pages show as it is (e.g. the agent's tunnel limit). */
    function ApiError(status, message, retryAfter) {
        this.status = status;
        this.message = message;
        this.retryAfter = retryAfter;
    }
    ApiError.prototype.toString = function () { return this.message; };

    function errorText(status, body) {
        if (body && typeof body.error === "string" && body.error) return body.error;
        if (status === 0) return "The relay cannot be reached.";
        return "The relay answered HTTP " + status + ".";
    }

    /* api(method, path, body?) -> Promise of the parsed JSON answer. A 401 on
     * anything but the sign-in itself means the session is gone: back to the
     * sign-in page. */
    function api(method, path, body, opts) {
        opts = opts || {};
        var init = { method: method, credentials: "same-origin", headers: {}, cache: "no-store" };
        if (body !== undefined) {
            init.headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        if (method !== "GET" && !opts.noCsrf) init.headers["X-CSRF-Token"] = csrf;
        if (opts.keepalive) init.keepalive = true;
        return fetch("/console/api/" + path, init).then(function (r) {
            return r.text().then(function (text) {
                var j = null;
                try { j = text ? JSON.parse(text) : {}; } catch (e) { j = null; }
                if (r.ok) return j || {};
                if (r.status === 401 && !opts.allow401) {
                    goSignIn("expired");
                }
                throw new ApiError(r.status, errorText(r.status, j), r.headers.get("Retry-After"));
            });
        }, function () {
            throw new ApiError(0, errorText(0, null));
        });
    }

    function setCsrf(token) { csrf = token || ""; }

    function goSignIn(why) {
        location.replace("/console/" + (why ? "?" + why : ""));
    }

    /* el("tag.class", {attr: value}, children...): a DOM element. */
    function el(spec, attrs) {
        var parts = spec.split(".");
        var node = document.createElement(parts[0] || "div");
        if (parts.length > 1) node.className = parts.slice(1).join(" ");
        if (attrs) {
            Object.keys(attrs).forEach(function (k) {
                var v = attrs[k];
                if (v === undefined || v === null || v === false) return;
                if (k === "text") node.textContent = v;
                else if (k === "onclick") node.addEventListener("click", v);
                else node.setAttribute(k, v === true ? "" : String(v));
            });
        }
        for (var i = 2; i < arguments.length; i++) {
            var c = arguments[i];
            if (c === null || c === undefined || c === false) continue;
            node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
        }
        return node;
    }

    function clear(node) {
        while (node.firstChild) node.removeChild(node.firstChild);
        return node;
    }

    /* A message box at the top of the page's main area; kind: error|info|ok. */
    function flash(kind, text) {
        var box = document.getElementById("flash");
        if (!box) return;
        clear(box);
        if (!text) { box.hidden = true; return; }
        box.hidden = false;
        box.className = "flash flash-" + kind;
        box.appendChild(el("span", { text: text }));
        box.appendChild(el("button.flash-close", { type: "button", "aria-label": "Dismiss",
            text: "\u00d7", onclick: function () { flash(null, ""); } }));
    }

    /* "3 min ago" for a Unix time (seconds) or an ISO string. */
    function toMillis(t) {
        if (typeof t === "number") return t * 1000;
        if (typeof t === "string" && t) { var ms = Date.parse(t); return isNaN(ms) ? null : ms; }
        return null;
    }

    function ago(t) {
        var ms = toMillis(t);
        if (ms === null) return "";
        var s = Math.round((Date.now() - ms) / 1000);
        var future = s < 0;
        s = Math.abs(s);
        var text;
        if (s < 45) text = s + " s";
        else if (s < 90 * 60) text = Math.round(s / 60) + " min";
        else if (s < 36 * 3600) text = Math.round(s / 3600) + " h";
        else text = Math.round(s / 86400) + " d";
        return future ? "in " + text : text + " ago";
    }

    function when(t) {
        var ms = toMillis(t);
        if (ms === null) return "";
        var d = new Date(ms);
        return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    }

    function bytes(n) {
        if (typeof n !== "number") return "";
        if (n < 1024) return n + " B";
        if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
        return (n / 1048576).toFixed(1) + " MiB";
    }

    function param(name) {
        return new URLSearchParams(location.search).get(name);
    }

    /* The header of every signed-in page (made here, not repeated in each
     * page's HTML): product name, navigation, who is signed in, sign-out. */
    function header(active) {
        var bar = document.getElementById("topbar");
        if (!bar || !me) return;
        clear(bar);
        bar.appendChild(el("a.brand", { href: "/console/devices.html" },
            el("span.brand-mark", { "aria-hidden": "true" }), "Tunnel console"));
        var nav = el("nav", { id: "topnav" });
        bar.appendChild(nav);
        var links = [["devices", "Devices", "/console/devices.html"],
                     ["recordings", "Recordings", "/console/recordings.html"],
                     ["audit", "Audit log", "/console/audit.html"]];
        var ul = el("ul.nav-links");
        links.forEach(function (l) {
            ul.appendChild(el("li", null, el("a" + (l[0] === active ? ".active" : ""),
                { href: l[2], text: l[1] })));
        });
        nav.appendChild(ul);
        var who = el("div.who", null,
            el("span.user", { id: "who-user", text: me.user }),
            el("span.role.role-" + me.role, { id: "who-role", text: me.role }),
            el("button.btn.btn-quiet", { type: "button", id: "signout", text: "Sign out",
                onclick: signOut }));
        nav.appendChild(who);
    }

    function signOut() {
        api("POST", "logout", {}).then(function () { goSignIn("signedout"); },
                                         function () { goSignIn("signedout"); });
    }

    /* start(active, fn): every signed-in page begins here: who am I (or the
     * sign-in page), the header, then the page's own fn(me). */
    function start(active, fn) {
        document.addEventListener("DOMContentLoaded", function () {
            api("GET", "me").then(function (j) {
                me = j;
                setCsrf(j.csrf);
                header(active);
                document.body.classList.add("role-is-" + j.role);
                fn(j);
            }, function (e) {
                if (e.status !== 401) flash("error", e.message);
            });
        });
    }

    function isAdmin() { return !!me && me.role === "admin"; }

    /* The relay ends a session after idleMinutes without a request; a page
     * that refreshes itself would keep an unattended tab signed in for ever.
     * So self-refreshing pages ask idle() first, and stop while the person
     * has not touched the page for that long (the relay then ends the
     * session, and the next touch finds the sign-in page). */
    var lastTouch = Date.now();
    ["keydown", "mousedown", "mousemove", "wheel", "touchstart", "focus"].forEach(function (ev) {
        window.addEventListener(ev, function () { lastTouch = Date.now(); }, { passive: true, capture: true });
    });

    function idle() {
        var minutes = me && me.idleMinutes > 0 ? me.idleMinutes : 30;
        return Date.now() - lastTouch >= minutes * 60000;
    }

    function lastTouched() { return lastTouch; }

    return { api: api, ApiError: ApiError, setCsrf: setCsrf, el: el, clear: clear, flash: flash,
             ago: ago, when: when, bytes: bytes, param: param, start: start, isAdmin: isAdmin,
             goSignIn: goSignIn, idle: idle, lastTouched: lastTouched };
}());
