// Dashboard realtime connection: reconnects with capped, jittered backoff and reports its state. Every
// event is re-dispatched on `document` as `omnidesk:<type>`; `omnidesk:hello` follows each (re)connect.
(function () {
  const status = document.getElementById("live-status");
  const reasons = { 4401: "signed out", 4403: "refused", 4404: "unknown company", 4423: "company suspended" };
  let attempt = 0;

  function setState(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    socket.onopen = () => { attempt = 0; setState("open", "live"); };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      document.dispatchEvent(new CustomEvent("omnidesk:" + event.type, { detail: event.payload }));
    };
    socket.onclose = (close) => {
      if (reasons[close.code]) { setState("closed", reasons[close.code]); if (close.code !== 4423) return; }
      attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      setState("closed", "reconnecting…");
      setTimeout(connect, delay);
    };
  }
  connect();
})();
