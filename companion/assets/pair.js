"use strict";
// The code is in the URL's fragment, which the browser never sends to the server. Take it out of
// the address bar (and the history) at once, then trade it for a session cookie.
(async () => {
  const raw = location.hash.slice(1);
  history.replaceState(null, "", "/pair");
  const status = document.getElementById("pair-status");
  const out = document.getElementById("pair-error");
  let code = "";
  try {
    code = decodeURIComponent(raw);
  } catch (e) {
    code = "";
  }
  if (!code) {
    status.textContent = "";
    out.textContent = "This link has no pairing code: scan the QR code again.";
    return;
  }
  try {
    const r = await fetch("/api/v1/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pairingCode: code }),
      credentials: "same-origin",
    });
    if (r.ok) {
      location.replace("/");
      return;
    }
    const body = await r.json().catch(() => ({}));
    status.textContent = "";
    out.textContent = body.detail || `pairing failed (${r.status})`;
  } catch (e) {
    status.textContent = "";
    out.textContent = `cannot reach the companion: ${e}`;
  }
})();
