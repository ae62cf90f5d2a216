/* recordings.js - a device's terminal recordings (GET /console/api/recordings),
 * each a download link to its .cast file. */
"use strict";

(function () {
    var el = TC.el;

    function $(id) { return document.getElementById(id); }

    function load(thing) {
        var body = TC.clear($("rec-body"));
        if (!thing) {
            body.appendChild(el("tr.empty", null, el("td", { colspan: "4", text: "Choose a device." })));
            return;
        }
        TC.api("GET", "recordings?thing=" + encodeURIComponent(thing)).then(function (j) {
            var recs = j.recordings || [];
            TC.clear(body);
            if (!recs.length) {
                body.appendChild(el("tr.empty", null, el("td", { colspan: "4",
                    text: "No recordings of " + thing + " (yet, or recording is off)." })));
            }
            recs.forEach(function (r) {
                var href = "/console/api/recordings/" + encodeURIComponent(r.id);
                body.appendChild(el("tr.recording", { "data-id": r.id },
                    el("td.nowrap", { "data-label": "Started", text: TC.when(r.startedAt) }),
                    el("td", { "data-label": "User", text: r.user || "" }),
                    el("td.nowrap", { "data-label": "Size", text: TC.bytes(r.bytes) }),
                    el("td", { "data-label": "Recording" },
                        el("a.btn.btn-small", { href: href, download: r.id + ".cast",
                                                 "data-action": "download", text: "Download .cast" }))));
            });
        }, function (e) { TC.flash("error", e.message); });
    }

    TC.start("recordings", function () {
        var want = TC.param("thing") || "";
        var sel = $("rec-thing");
        TC.api("GET", "things").then(function (j) {
            var names = (j.things || []).map(function (t) { return t.thingName; }).sort();
            if (want && names.indexOf(want) < 0) names.unshift(want);
            sel.appendChild(el("option", { value: "", text: "\u2014 choose \u2014" }));
            names.forEach(function (n) {
                sel.appendChild(el("option", { value: n, text: n, selected: n === want }));
            });
            load(want);
        }, function (e) { TC.flash("error", e.message); });
        sel.addEventListener("change", function () {
            history.replaceState(null, "", "?thing=" + encodeURIComponent(sel.value));
            load(sel.value);
        });
    });
}());
