/* login.js - the sign-in page: POST /console/api/login, then the device list.
 * Already signed in (GET /me answers): straight to the device list. */
"use strict";

document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("login-form");
    var user = document.getElementById("login-user");
    var password = document.getElementById("login-password");
    var submit = document.getElementById("login-submit");
    var why = location.search.replace(/^\?/, "");

    if (why === "expired") TC.flash("info", "Your session ended. Please sign in again.");
    else if (why === "signedout") TC.flash("ok", "You are signed out.");

    TC.api("GET", "me", undefined, { allow401: true }).then(function () {
        location.replace("/console/devices.html");
    }, function () { /* not signed in: stay here */ });

    form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        submit.disabled = true;
        TC.flash(null, "");
        TC.api("POST", "login", { user: user.value, password: password.value },
               { noCsrf: true, allow401: true }).then(function (j) {
            password.value = "";
            TC.setCsrf(j.csrf);
            location.replace("/console/devices.html");
        }, function (e) {
            password.value = "";
            var text = e.message;
            if (e.status === 429 && e.retryAfter) text += " (try again in " + e.retryAfter + " s)";
            TC.flash("error", text);
            submit.disabled = false;
            password.focus();
        });
    });
});
