"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = ev.target.elements.token.value.trim();
  const out = document.getElementById("login-error");
  out.textContent = "";
  try {
    const r = await fetch("/api/v1/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
    if (r.ok) {
      location.replace("/");
      return;
    }
    const body = await r.json().catch(() => ({}));
    out.textContent = body.detail || `login failed (${r.status})`;
  } catch (e) {
    out.textContent = `cannot reach the companion: ${e}`;
  }
});
