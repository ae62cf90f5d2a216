/* terminal.js - one browser terminal to a device (CONSOLE_SPEC §5).
 *
 * POST /console/api/terminals opens a terminal (the relay opens a short-lived
 * tunnel of its own and starts a tunnel-term helper, the SSH client); then the
 * WebSocket /console/term?id=ID carries the helper's messages: host key (shown
 * with its SHA-256 fingerprint, accepted or cancelled here), sign-in (password
 * or a pasted private key, sent once and wiped from the form), then the shell's
 * bytes both ways and the window size. Closing the page or the Close button
 * ends the terminal, and with it its tunnel. */
"use strict";

(function () {
    var PROTOCOL = "tunnel-console-term.v1";
    var thing = TC.param("thing") || "";
    var service = TC.param("service") || "SSH";
    var terminalId = null;
    var ws = null;
    var term = null;
    var fit = null;
    var state = "starting";
    var closing = false;
    var method = "password";

    function $(id) { return document.getElementById(id); }

    function show(id, on) { $(id).hidden = !on; }

    function setState(s, label) {
        state = s;
        var badge = $("term-state");
        badge.textContent = label || s;
        badge.setAttribute("data-state", s);
        badge.className = "badge " + ({ ready: "badge-online", closed: "badge-offline",
                                        error: "badge-error" }[s] || "badge-unknown");
    }

    function send(bytes) {
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytes);
    }

    /* ---- the terminal emulator -------------------------------------- */

    function makeTerminal() {
        term = new Terminal({
            cursorBlink: true,
            fontFamily: "'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, monospace",
            fontSize: 14,
            scrollback: 5000,
            theme: { background: "#0f1720", foreground: "#d8dee9", cursor: "#8fbcbb" }
        });
        fit = new FitAddon.FitAddon();
        term.loadAddon(fit);
        term.open($("terminal"));
        fit.fit();
        showSize();
        /* Keystrokes go to the shell only once it is there. */
        term.onData(function (d) { if (state === "ready") send(TermFrames.input(d)); });
        term.onBinary(function (d) { if (state === "ready") send(TermFrames.inputBinary(d)); });
        term.onResize(function (sz) {
            showSize();
            send(TermFrames.resize(sz.cols, sz.rows));
        });
        /* The terminal follows its box: the window's size, and messages that
         * come and go above it. */
        var pending = false;
        var refit = function () {
            if (pending) return;
            pending = true;
            requestAnimationFrame(function () { pending = false; fit.fit(); });
        };
        window.addEventListener("resize", refit);
        if (window.ResizeObserver) new ResizeObserver(refit).observe($("term-wrap"));
        /* For tests and the browser's developer tools: the terminal's buffer. */
        window.tcTerminal = term;
    }

    function showSize() {
        $("term-size").textContent = term.cols + "\u00d7" + term.rows;
    }

    /* ---- messages from the helper ----------------------------------- */

    function onHostKey(j) {
        $("hostkey-type").textContent = j.keyType || "";
        $("hostkey-fingerprint").textContent = j.fingerprint || "";
        /* Shown in the bar for the whole session: the key this shell is on. */
        $("term-hostkey").textContent = (j.status === "known" ? "\u2713 known host key " : "host key ") +
                                        (j.fingerprint || "");
        $("term-hostkey").title = (j.keyType || "") + " " + (j.fingerprint || "");
        show("term-hostkey", true);
        if (j.status === "new") {
            setState("hostkey", "check host key");
            show("hostkey-panel", true);
            $("hostkey-accept").focus();
        }
    }

    function onStatus(j) {
        if (j.state === "auth") {
            show("hostkey-panel", false);
            setState("auth", "sign in");
            showAuth(j);
        } else if (j.state === "ready") {
            show("auth-panel", false);
            show("hostkey-panel", false);
            setState("ready", "connected");
            TC.flash(null, "");
            term.focus();
        } else if (j.state === "closed") {
            ended(j.message || "The session is closed.");
        } else if (j.state === "hostkey") {
            setState("hostkey", "check host key");
        } else if (j.state === "connecting") {
            setState("connecting", "connecting");
        }
    }

    function onError(j) {
        show("hostkey-panel", false);
        show("auth-panel", false);
        if (j.code === "hostkey_changed") {
            $("hostkey-changed-text").textContent = j.message || "";
            show("hostkey-changed", true);
            setState("error", "host key changed");
        } else {
            setState("error", j.code === "auth_failed" ? "sign-in refused" : "error");
            TC.flash("error", j.message || "The terminal failed (" + (j.code || "error") + ").");
        }
    }

    function onExit(j) {
        ended("The session ended" + (typeof j.status === "number" ? " (exit status " + j.status + ")" : "") + ".");
    }

    function ended(text) {
        if (state !== "error") setState("closed", "closed");
        show("auth-panel", false);
        show("hostkey-panel", false);
        if (state === "closed") TC.flash("info", text);
        term.options.disableStdin = true;
    }

    function onMessage(ev) {
        if (typeof ev.data === "string") return;  /* the protocol is binary only */
        var m = TermFrames.parse(ev.data);
        if (!m) return;
        switch (m.type) {
        case "o": term.write(m.bytes); break;
        case "h": onHostKey(m.json); break;
        case "s": onStatus(m.json); break;
        case "e": onError(m.json); break;
        case "x": onExit(m.json); break;
        default: break;  /* unknown types: ignored, as the spec's readers do */
        }
    }

    /* ---- sign-in form ------------------------------------------------ */

    function showAuth(j) {
        var methods = j.methods && j.methods.length ? j.methods : ["password", "publickey"];
        $("auth-tab-password").disabled = methods.indexOf("password") < 0 &&
                                          methods.indexOf("keyboard-interactive") < 0;
        $("auth-tab-key").disabled = methods.indexOf("publickey") < 0;
        if ($("auth-tab-password").disabled && method === "password") chooseMethod("publickey");
        if ($("auth-tab-key").disabled && method === "publickey") chooseMethod("password");
        if (j.message) {
            $("auth-message").textContent = j.message;
            show("auth-message", true);
        } else {
            show("auth-message", false);
        }
        $("auth-submit").disabled = false;
        show("auth-panel", true);
        ($("auth-user").value ? (method === "password" ? $("auth-password") : $("auth-key"))
                              : $("auth-user")).focus();
    }

    function chooseMethod(m) {
        method = m;
        $("auth-tab-password").classList.toggle("active", m === "password");
        $("auth-tab-key").classList.toggle("active", m === "publickey");
        show("auth-by-password", m === "password");
        show("auth-by-key", m === "publickey");
    }

    function submitAuth(ev) {
        ev.preventDefault();
        var creds = { user: $("auth-user").value };
        if (method === "password") {
            creds.password = $("auth-password").value;
        } else {
            creds.key = $("auth-key").value;
            creds.passphrase = $("auth-passphrase").value;
        }
        /* The secret leaves the form at once: it is in the one message only. */
        $("auth-password").value = "";
        $("auth-key").value = "";
        $("auth-passphrase").value = "";
        $("auth-submit").disabled = true;
        send(TermFrames.credentials(creds));
        creds = null;
        setState("connecting", "signing in");
    }

    /* ---- life of the terminal --------------------------------------- */

    function connect() {
        /* The size goes along in the URL too, so that the shell starts with it. */
        var url = "wss://" + location.host + "/console/term?id=" + encodeURIComponent(terminalId) +
                  "&cols=" + term.cols + "&rows=" + term.rows;
        ws = new WebSocket(url, PROTOCOL);
        ws.binaryType = "arraybuffer";
        ws.onopen = function () {
            setState("connecting", "connecting");
            send(TermFrames.resize(term.cols, term.rows));
        };
        ws.onmessage = onMessage;
        ws.onclose = function () {
            if (!closing && state !== "closed" && state !== "error") {
                setState("closed", "disconnected");
                TC.flash("info", "The connection to the relay closed.");
            }
            term.options.disableStdin = true;
        };
    }

    /* The device's agent connects its end of the terminal's tunnel when the
     * relay's MQTT notification reaches it; an SSH connection started before
     * that would be refused by the relay (no destination yet). So the page
     * waits, up to WAIT_DEVICE_MS, until the device list shows that end
     * connected, then opens the terminal's WebSocket (after the wait, it opens
     * it anyway, and the helper says what went wrong). */
    var WAIT_DEVICE_MS = 20000;

    function waitForDevice(tunnelId) {
        var deadline = Date.now() + WAIT_DEVICE_MS;
        return new Promise(function (resolve) {
            var poll = function () {
                var again = function () {
                    if (Date.now() > deadline) resolve(false);
                    else setTimeout(poll, 250);
                };
                TC.api("GET", "things").then(function (j) {
                    var up = (j.things || []).some(function (t) {
                        return (t.tunnels || []).some(function (x) {
                            return x.tunnelId === tunnelId && x.destinationConnected;
                        });
                    });
                    if (up) resolve(true);
                    else again();
                }, again);
            };
            poll();
        });
    }

    function closeTerminal(andLeave) {
        closing = true;
        if (ws) ws.close(1000);
        var done = terminalId
            ? TC.api("POST", "terminals/" + encodeURIComponent(terminalId) + "/close", {}, { keepalive: true })
            : Promise.resolve();
        terminalId = null;
        if (andLeave) {
            var leave = function () { location.assign("/console/devices.html"); };
            done.then(leave, leave);
        }
    }

    TC.start("devices", function () {
        $("term-thing").textContent = thing;
        $("auth-thing").textContent = thing;
        document.title = thing + " \u00b7 Terminal";
        makeTerminal();
        $("term-close").addEventListener("click", function () { closeTerminal(true); });
        $("hostkey-accept").addEventListener("click", function () {
            send(TermFrames.acceptHostKey());
            show("hostkey-panel", false);
            setState("connecting", "connecting");
        });
        $("hostkey-cancel").addEventListener("click", function () { closeTerminal(true); });
        $("auth-tab-password").addEventListener("click", function () { chooseMethod("password"); });
        $("auth-tab-key").addEventListener("click", function () { chooseMethod("publickey"); });
        $("auth-panel").addEventListener("submit", submitAuth);
        window.addEventListener("pagehide", function () { if (terminalId) closeTerminal(false); });
        if (!thing) {
            setState("error", "no device");
            TC.flash("error", "No device chosen: open a terminal from the device list.");
            return;
        }
        TC.api("POST", "terminals", { thing: thing, service: service }).then(function (j) {
            terminalId = j.terminalId;
            setState("waiting", "waiting for the device");
            return waitForDevice(j.tunnelId).then(function () {
                if (terminalId && !closing) connect();
            });
        }, function (e) {
            setState("error", "not started");
            TC.flash("error", e.message);
        });
    });
}());
