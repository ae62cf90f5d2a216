/* token_handout.js - hands a tunnel's source access token to the person, once.
 *
 * The token never goes into the DOM (no element's text, value or attribute
 * holds it): it stays in this closure until the dialog closes, and leaves only
 * through the clipboard (Copy) or a file the browser saves (Download, through a
 * Blob URL, so the token is not in the URL either). */
"use strict";

var TokenHandout = (function () {
    var token = null;
    var tunnelId = null;

    function $(id) { return document.getElementById(id); }

    function done(text) { $("token-done").textContent = text; }

    function copy() {
        if (!token) return;
        if (!navigator.clipboard || !navigator.clipboard.writeText) {
            done("This browser gives no clipboard here: use Download.");
            return;
        }
        navigator.clipboard.writeText(token).then(function () { done("Copied."); },
            function () { done("The browser refused the clipboard: use Download."); });
    }

    function download() {
        if (!token) return;
        var blob = new Blob([token + "\n"], { type: "text/plain" });
        var url = URL.createObjectURL(blob);
        var a = document.createElement("a");
        a.href = url;
        a.download = tunnelId + ".source-token";
        document.body.appendChild(a);
        a.click();
        document.body.removeChild(a);
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
        done("Saved as " + a.download + ".");
    }

    function forget() {
        token = null;
        tunnelId = null;
        done("");
    }

    /* show(title, tunnelId, sourceAccessToken, services) */
    function show(title, id, tok, services) {
        token = tok;
        tunnelId = id;
        done("");
        $("token-title").textContent = title;
        $("token-tunnel").textContent = id;
        var svc = (services && services.length === 1) ? services[0] : "SSH";
        $("token-hint").textContent =
            "AWSIOT_TUNNEL_ACCESS_TOKEN=$(cat " + id + ".source-token) \\\n" +
            "  localproxy -s 2222 -e " + location.host + " -c ca.pem\n" +
            (svc === "SSH" ? "ssh -p 2222 user@localhost" : "# then connect to localhost:2222");
        $("token-dialog").showModal();
    }

    document.addEventListener("DOMContentLoaded", function () {
        $("token-copy").addEventListener("click", copy);
        $("token-download").addEventListener("click", download);
        $("token-close").addEventListener("click", function () { $("token-dialog").close(); });
        $("token-dialog").addEventListener("close", forget);
    });

    return { show: show };
}());
