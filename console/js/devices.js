/* devices.js - the device list: presence, services and open tunnels of every
 * thing, refreshed every 3 seconds from GET /console/api/things without a
 * reload; the admin's tunnel actions (open, rotate, close) and everyone's
 * Terminal and Recordings links. */
"use strict";

(function () {
    var REFRESH_MS = 3000;
    var el = TC.el;
    var lastJson = "";       /* the last list drawn: redraw only when it changes */
    var things = [];
    var openFor = null;      /* the thing the open dialog is for */
    var confirmAction = null;

    function $(id) { return document.getElementById(id); }

    /* ---- drawing ----------------------------------------------------- */

    function stateBadge(t) {
        var state = t.state || "unknown";
        var label = { online: "Online", offline: "Offline" }[state] || "Unknown";
        return el("div.state-cell", null,
            el("span.badge.badge-" + state + ".state", { "data-state": state, text: label }),
            t.since ? el("span.muted.small.since", { "data-time": t.since, title: TC.when(t.since),
                                                     text: TC.ago(t.since) }) : null);
    }

    function tunnelLine(t, tun) {
        var ends = (tun.sourceConnected ? "source \u2713" : "source \u2013") + " \u00b7 " +
                   (tun.destinationConnected ? "device \u2713" : "device \u2013");
        var li = el("li.tunnel", { "data-tunnel": tun.tunnelId },
            el("div.tunnel-head", null,
                el("code.tunnel-id", { text: tun.tunnelId }),
                tun.terminal ? el("span.badge.badge-term", { text: "terminal" }) : null,
                el("span.muted.small", { text: (tun.services || []).join(", ") })),
            el("div.tunnel-meta.muted.small", null,
                ends,
                tun.openedBy ? " \u00b7 by " + tun.openedBy : "",
                tun.expiresAt ? " \u00b7 expires " : "",
                tun.expiresAt ? el("span", { "data-time": tun.expiresAt, title: TC.when(tun.expiresAt),
                                             text: TC.ago(tun.expiresAt) }) : null));
        if (TC.isAdmin() && !tun.terminal && tun.status !== "CLOSED") {
            li.appendChild(el("div.tunnel-actions", null,
                el("button.btn.btn-small", { type: "button", "data-action": "rotate",
                    text: "Rotate", onclick: function () { askRotate(t, tun); } }),
                el("button.btn.btn-small.btn-danger-quiet", { type: "button", "data-action": "close",
                    text: "Close", onclick: function () { askClose(t, tun); } })));
        }
        return li;
    }

    function row(t) {
        var online = t.state === "online";
        var tunnels = (t.tunnels || []).filter(function (x) { return x.status !== "CLOSED"; });
        var tunCell = tunnels.length ? el("ul.tunnels") : el("span.muted", { text: "none" });
        tunnels.forEach(function (tun) { tunCell.appendChild(tunnelLine(t, tun)); });
        var cap = t.maxTunnels ? el("div.muted.small", { text: tunnels.length + " of " + t.maxTunnels +
                                                                " allowed" }) : null;
        var actions = el("div.actions");
        if (online) {
            actions.appendChild(el("a.btn.btn-primary.btn-small", { "data-action": "terminal",
                href: "/console/terminal.html?thing=" + encodeURIComponent(t.thingName),
                text: "Terminal" }));
        }
        if (TC.isAdmin()) {
            actions.appendChild(el("button.btn.btn-small", { type: "button", "data-action": "open",
                disabled: !(t.services && t.services.length), text: "Open tunnel",
                onclick: function () { showOpen(t); } }));
        }
        actions.appendChild(el("a.btn.btn-quiet.btn-small", { "data-action": "recordings",
            href: "/console/recordings.html?thing=" + encodeURIComponent(t.thingName),
            text: "Recordings" }));
        return el("tr.device", { "data-thing": t.thingName, "data-state": t.state || "unknown" },
            el("td", { "data-label": "Device" },
                el("div.device-name", { text: t.thingName }),
                t.agentVersion ? el("div.muted.small", { text: "agent " + t.agentVersion }) : null),
            el("td", { "data-label": "State" }, stateBadge(t)),
            el("td", { "data-label": "Services" }, servicesCell(t.services)),
            el("td", { "data-label": "Open tunnels" }, tunCell, cap),
            el("td.actions-col", { "data-label": "Actions" }, actions));
    }

    function servicesCell(services) {
        if (!services || !services.length) return el("span.muted", { text: "\u2013" });
        var box = el("div.chips");
        services.forEach(function (s) { box.appendChild(el("span.chip", { text: s })); });
        return box;
    }

    function draw() {
        var body = TC.clear($("devices-body"));
        if (!things.length) {
            body.appendChild(el("tr.empty", null, el("td", { colspan: "5",
                text: "No device has reported yet. A device appears here once its agent connects." })));
        }
        things.forEach(function (t) { body.appendChild(row(t)); });
        var online = things.filter(function (t) { return t.state === "online"; }).length;
        $("summary").textContent = things.length + (things.length === 1 ? " device, " : " devices, ") +
                                   online + " online";
    }

    /* Between redraws only the relative times move. */
    function tick() {
        var nodes = document.querySelectorAll("#devices-body [data-time]");
        Array.prototype.forEach.call(nodes, function (n) {
            var t = n.getAttribute("data-time");
            n.textContent = TC.ago(/^\d+$/.test(t) ? Number(t) : t);
        });
    }

    function refresh() {
        return TC.api("GET", "things").then(function (j) {
            var list = (j.things || []).slice().sort(function (a, b) {
                return a.thingName < b.thingName ? -1 : a.thingName > b.thingName ? 1 : 0;
            });
            var s = JSON.stringify(list);
            $("refresh-state").textContent = "updated " + new Date().toLocaleTimeString();
            $("refresh-state").classList.remove("stale");
            if (s !== lastJson) {
                lastJson = s;
                things = list;
                draw();
            } else {
                tick();
            }
        }, function (e) {
            $("refresh-state").textContent = "cannot refresh: " + e.message;
            $("refresh-state").classList.add("stale");
        });
    }

    /* Every 3 s while someone uses the page; paused when idle (TC.idle),
     * resumed by the next touch. */
    function loop() {
        if (TC.idle()) {
            $("refresh-state").textContent = "paused while you are away";
            var since = TC.lastTouched();
            var wake = function () {
                if (TC.lastTouched() === since) { setTimeout(wake, 500); return; }
                loop();
            };
            wake();
            return;
        }
        refresh().then(function () { setTimeout(loop, REFRESH_MS); });
    }

    /* ---- open a tunnel (admin) --------------------------------------- */

    function showOpen(t) {
        openFor = t;
        $("open-thing").textContent = t.thingName;
        var box = TC.clear($("open-services"));
        (t.services || []).forEach(function (s, i) {
            var id = "svc-" + i;
            box.appendChild(el("label.check", { "for": id },
                el("input", { type: "checkbox", id: id, value: s, checked: i === 0, name: "service" }),
                " " + s));
        });
        $("open-error").hidden = true;
        $("open-submit").disabled = false;
        $("open-dialog").showModal();
    }

    function submitOpen(ev) {
        ev.preventDefault();
        var services = Array.prototype.map.call(
            document.querySelectorAll("#open-services input:checked"), function (i) { return i.value; });
        if (!services.length) {
            showOpenError("Choose at least one service.");
            return;
        }
        $("open-submit").disabled = true;
        var thing = openFor.thingName;
        TC.api("POST", "tunnels", { thing: thing, services: services,
                                    lifetimeMinutes: Number($("open-lifetime").value) })
            .then(function (j) {
                $("open-dialog").close();
                var n = j.notification || {};
                var note = n.delivered === false ? " (the device was not reached yet: " +
                           (n.detail || "it is told when it connects") + ")" : "";
                TC.flash(note ? "info" : "ok", "Tunnel " + j.tunnelId + " opened for " + thing + note + ".");
                TokenHandout.show("Tunnel opened", j.tunnelId, j.sourceAccessToken, services);
                refresh();
            }, function (e) {
                $("open-submit").disabled = false;
                showOpenError(e.message);
            });
    }

    function showOpenError(text) {
        $("open-error").textContent = text;
        $("open-error").hidden = false;
    }

    /* ---- rotate and close (admin) ------------------------------------ */

    function ask(title, text, yes, fn) {
        $("confirm-title").textContent = title;
        $("confirm-text").textContent = text;
        $("confirm-yes").textContent = yes;
        confirmAction = fn;
        $("confirm-dialog").showModal();
    }

    function askRotate(t, tun) {
        ask("Rotate the source token?", "Tunnel " + tun.tunnelId + " to " + t.thingName +
            " gets a new source token; the one handed out before stops working.", "Rotate", function () {
            TC.api("POST", "tunnels/" + encodeURIComponent(tun.tunnelId) + "/rotate", {}).then(function (j) {
                TokenHandout.show("Token rotated", j.tunnelId || tun.tunnelId, j.sourceAccessToken,
                                  tun.services);
                refresh();
            }, function (e) { TC.flash("error", e.message); });
        });
    }

    function askClose(t, tun) {
        ask("Close the tunnel?", "Tunnel " + tun.tunnelId + " to " + t.thingName +
            " closes now: both ends are disconnected.", "Close tunnel", function () {
            TC.api("POST", "tunnels/" + encodeURIComponent(tun.tunnelId) + "/close", {}).then(function () {
                TC.flash("ok", "Tunnel " + tun.tunnelId + " closed.");
                refresh();
            }, function (e) { TC.flash("error", e.message); });
        });
    }

    TC.start("devices", function () {
        $("open-form").addEventListener("submit", submitOpen);
        $("open-cancel").addEventListener("click", function () { $("open-dialog").close(); });
        $("confirm-no").addEventListener("click", function () { $("confirm-dialog").close(); });
        $("confirm-yes").addEventListener("click", function () {
            var fn = confirmAction;
            confirmAction = null;
            $("confirm-dialog").close();
            if (fn) fn();
        });
        loop();
    });
}());
