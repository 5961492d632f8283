// Channel status changes arrive live (channel.status) and update the row in place.
(function () {
  const labels = { connecting: "Connecting", connected: "Connected", error: "Error", disconnected: "Disconnected" };
  document.addEventListener("omnidesk:channel.status", (event) => {
    const row = document.querySelector(`[data-channel-id="${event.detail.id}"]`);
    if (!row) return;
    row.querySelector("[data-role=dot]").className = `dot ${event.detail.status}`;
    row.querySelector("[data-role=status]").textContent = labels[event.detail.status] || event.detail.status;
    row.querySelector("[data-role=error]").textContent = event.detail.error || "";
  });
})();
