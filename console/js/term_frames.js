/* term_frames.js - the terminal WebSocket's messages (CONSOLE_SPEC §5): one
 * binary message is [type byte][payload]. Pure encoding and decoding, no I/O. */
"use strict";

var TermFrames = (function () {
    var enc = new TextEncoder();
    var dec = new TextDecoder("utf-8");

    function frame(type, payload) {
        var body = payload || new Uint8Array(0);
        var out = new Uint8Array(1 + body.length);
        out[0] = type.charCodeAt(0);
        out.set(body, 1);
        return out;
    }

    /* input: a string from xterm.js's onData (UTF-16 in JS, UTF-8 on the wire) */
    function input(text) { return frame("i", enc.encode(text)); }

    /* binary input from xterm.js's onBinary: one byte per character */
    function inputBinary(text) {
        var b = new Uint8Array(text.length);
        for (var i = 0; i < text.length; i++) b[i] = text.charCodeAt(i) & 0xff;
        return frame("i", b);
    }

    function resize(cols, rows) { return frame("r", enc.encode(JSON.stringify({ cols: cols, rows: rows }))); }
    function acceptHostKey() { return frame("y"); }
    function credentials(obj) { return frame("a", enc.encode(JSON.stringify(obj))); }

    /* parse(ArrayBuffer) -> {type, bytes, json}; json for the JSON types only. */
    function parse(buf) {
        var b = new Uint8Array(buf);
        if (b.length < 1) return null;
        var type = String.fromCharCode(b[0]);
        var bytes = b.subarray(1);
        var json = null;
        if ("hsex".indexOf(type) >= 0) {
            try { json = JSON.parse(dec.decode(bytes)); } catch (e) { json = {}; }
        }
        return { type: type, bytes: bytes, json: json };
    }

    return { input: input, inputBinary: inputBinary, resize: resize, acceptHostKey: acceptHostKey,
             credentials: credentials, parse: parse };
}());
