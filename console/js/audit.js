/* audit.js - the audit log, newest first (GET /console/api/audit): an admin
 * sees every event, an operator only their own (the relay decides). */
"use strict";

(function () {
    var el = TC.el;
    var events = [];

    function $(id) { return document.getElementById(id); }

    function actionClass(a) {
        if (/failed|refused/.test(a)) return "bad";
        if (/^signin|^signout/.test(a)) return "auth";
        if (/^tunnel/.test(a)) return "tunnel";
        if (/^terminal|^hostkey/.test(a)) return "term";
        return "other";
    }

    function matches(ev, q) {
        if (!q) return true;
        return ["who", "role", "from", "action", "thing", "tunnelId", "detail"].some(function (k) {
            return typeof ev[k] === "string" && ev[k].toLowerCase().indexOf(q) >= 0;
        });
    }

    function draw() {
        var q = $("audit-filter").value.trim().toLowerCase();
        var body = TC.clear($("audit-body"));
        var shown = events.filter(function (ev) { return matches(ev, q); });
        if (!shown.length) {
            body.appendChild(el("tr.empty", null, el("td", { colspan: "7",
                text: events.length ? "Nothing matches the filter." : "No events yet." })));
            return;
        }
        shown.forEach(function (ev) {
            var detail = ev.detail;
            if (detail !== undefined && typeof detail !== "string") detail = JSON.stringify(detail);
            body.appendChild(el("tr.event", { "data-action": ev.action },
                el("td.nowrap", { "data-label": "Time", title: ev.time, text: TC.when(ev.time) }),
                el("td", { "data-label": "Who" }, ev.who || "",
                   ev.role ? el("span.muted.small", { text: " " + ev.role }) : null),
                el("td.muted", { "data-label": "From", text: ev.from || "" }),
                el("td", { "data-label": "Action" },
                   el("span.action.action-" + actionClass(ev.action || ""), { text: ev.action || "" })),
                el("td.nowrap", { "data-label": "Device", text: ev.thing || "" }),
                el("td", { "data-label": "Tunnel" }, ev.tunnelId ? el("code", { text: ev.tunnelId }) : ""),
                el("td.detail", { "data-label": "Detail", text: detail || "" })));
        });
    }

    function load() {
        TC.api("GET", "audit?limit=" + encodeURIComponent($("audit-limit").value)).then(function (j) {
            events = j.events || [];
            draw();
        }, function (e) { TC.flash("error", e.message); });
    }

    TC.start("audit", function (me) {
        $("audit-scope").textContent = me.role === "admin" ? "All users' events" : "Your own events";
        $("audit-limit").addEventListener("change", load);
        $("audit-refresh").addEventListener("click", load);
        $("audit-filter").addEventListener("input", draw);
        load();
    });
}());
