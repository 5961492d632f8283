// QR session page: follows `channel.status` events over /ws/ (QR code refreshes, state changes) and
// posts the pairing-code and link/unlink forms without leaving the page.
(function () {
  const root = document.getElementById("qr-session");
  if (!root) return;
  const channelId = Number(root.dataset.channelId);
  const byId = (id) => document.getElementById(id);

  function render(status) {
    if (!status || status.id !== channelId) return;
    const state = byId("qr-state");
    state.dataset.state = status.session_state;
    state.textContent = status.session_state.replace("_", " ");
    byId("qr-advice").textContent = status.advice || "";
    byId("qr-reason").textContent = status.reason || "";
    byId("qr-note").textContent = status.note || "";
    // Codes come only to owners and admins (their own event); the company-wide event has no such keys.
    // The SVG is rendered by our server (segno) from the code WhatsApp issued.
    if ("qr_svg" in status) byId("qr-code").innerHTML = status.qr_svg;
    if ("pairing_code" in status) byId("qr-pairing-code").textContent = status.pairing_code;
    const history = byId("qr-history");
    if (history && status.changed_at) {
      const item = document.createElement("li");
      item.textContent = `${status.changed_at} → ${status.session_state} ${status.reason || ""}`;
      if (!history.firstChild || history.firstChild.textContent !== item.textContent) history.prepend(item);
    }
  }

  function refetch() {
    fetch(root.dataset.statusUrl, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then(render)
      .catch(() => {});
  }

  document.addEventListener("omnidesk:channel.status", (event) => render(event.detail));
  document.addEventListener("omnidesk:hello", refetch); // after a reconnect, catch up on missed events

  function submit(form, onDone) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const result = byId("qr-action-result");
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
        .then(({ ok, body }) => {
          if (!ok) {
            if (result) result.textContent = body.error ? body.error.message : "Failed.";
            return;
          }
          onDone(body);
        })
        .catch(() => { if (result) result.textContent = "The server did not answer."; });
    });
  }

  const pairForm = byId("qr-pair-form");
  if (pairForm) submit(pairForm, (body) => { byId("qr-pairing-code").textContent = body.pairing_code || ""; });
  const settingsForm = byId("qr-settings-form");
  if (settingsForm) submit(settingsForm, () => { const r = byId("qr-action-result"); if (r) r.textContent = "Saved."; });
  document.querySelectorAll("form.qr-action").forEach((form) =>
    submit(form, () => { const r = byId("qr-action-result"); if (r) r.textContent = "Done."; })
  );
})();
