"""The customer-side pages, self-contained (no CDN): an index of numbers and customers, and a phone-like chat
where a person plays the customer. Both are static; their scripts read everything from the control API."""

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>WhatsApp sandbox</title><link rel="icon" href="data:,">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f0f2f5;color:#111b21}
header{background:#008069;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:20px}
main{max-width:960px;margin:0 auto;padding:16px}
section{background:#fff;border-radius:8px;padding:16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
h2{font-size:16px;margin:0 0 12px}
table{width:100%;border-collapse:collapse;font-size:14px}
td,th{text-align:left;padding:6px 8px;border-bottom:1px solid #eee;word-break:break-all}
form{display:flex;gap:8px;flex-wrap:wrap;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;gap:4px;color:#54656f}
input,select,button{font:inherit;padding:8px;border:1px solid #ccd;border-radius:6px}
button{background:#008069;color:#fff;border:0;cursor:pointer}
.muted{color:#667781;font-size:13px}
.open{color:#008069}.closed{color:#b3261e}
</style></head>
<body><header><h1>WhatsApp sandbox &mdash; customer phones</h1></header>
<main>
<p class="muted">Customers on Twilio (SMS, WhatsApp), Messenger and Instagram:
<a href="/_stubs">/_stubs</a></p>
<section><h2>Open a customer phone</h2>
<form id="open-form">
<label>Business number<select id="number" required></select></label>
<label>Customer phone (digits, with country code)
<input id="digits" required pattern="[0-9]{6,15}" placeholder="5511987654321"></label>
<label>Customer name<input id="name" placeholder="Carla"></label>
<button type="submit">Open phone</button>
</form>
<p class="muted" id="no-numbers" hidden>No business number is registered yet:
the app registers its channels with <code>PUT /_sandbox/numbers/{phone_number_id}</code>.</p>
</section>
<section><h2>Known customers</h2><table><thead><tr><th>Customer</th><th>Name</th><th>Business number</th>
<th>24 h window</th></tr></thead><tbody id="customers"></tbody></table></section>
<section><h2>Business numbers</h2><table><thead><tr><th>Number</th><th>phone_number_id</th><th>WABA</th>
<th>Webhook</th></tr></thead><tbody id="numbers"></tbody></table></section>
<section><h2>Settings</h2>
<label style="flex-direction:row;align-items:center"><input type="checkbox" id="auto-read">
Customers read replies automatically (off: replies are read when the phone page is open)</label>
<p class="muted" id="config"></p></section>
</main>
<script>
"use strict";
const el = (tag, text, attrs) => {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  return node;
};
const row = cells => { const tr = el("tr"); cells.forEach(c => { const td = el("td");
  if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }); return tr; };
const phoneUrl = (digits, number, name) =>
  "/phone/" + digits + "?number=" + encodeURIComponent(number) +
  (name ? "&name=" + encodeURIComponent(name) : "");
let numbers = {};
async function load() {
  const [nums, custs, config] = await Promise.all(
    ["/_sandbox/numbers", "/_sandbox/customers", "/_sandbox/config"].map(u => fetch(u).then(r => r.json())));
  numbers = {};
  const select = document.getElementById("number"), chosen = select.value;
  select.replaceChildren();
  const numberRows = document.getElementById("numbers");
  numberRows.replaceChildren();
  nums.data.forEach(n => {
    numbers[n.phone_number_id] = n;
    select.appendChild(el("option", n.display_phone_number + " (" + n.verified_name + ")",
      {value: n.phone_number_id}));
    numberRows.appendChild(row([n.display_phone_number, n.phone_number_id, n.waba_id, n.webhook_url]));
  });
  if (chosen) select.value = chosen;
  document.getElementById("no-numbers").hidden = nums.data.length > 0;
  const customerRows = document.getElementById("customers");
  customerRows.replaceChildren();
  custs.data.forEach(c => {
    const link = el("a", "+" + c.wa_id, {href: phoneUrl(c.wa_id, c.phone_number_id, c.profile_name)});
    const number = numbers[c.phone_number_id];
    customerRows.appendChild(row([link, c.profile_name || "",
      number ? number.display_phone_number : c.phone_number_id,
      el("span", c.has_open_window ? "open" : "closed", {class: c.has_open_window ? "open" : "closed"})]));
  });
  document.getElementById("auto-read").checked = config.auto_read;
  document.getElementById("config").textContent = "latency " + config.latency_ms + " ms, failure rate " +
    config.fail_rate + " (code " + config.fail_code + "), status delay " + config.status_delay_ms + " ms";
}
document.getElementById("open-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const digits = document.getElementById("digits").value.replace(/[^0-9]/g, "");
  const name = document.getElementById("name").value;
  location.href = phoneUrl(digits, document.getElementById("number").value, name);
});
document.getElementById("auto-read").addEventListener("change", ev => {
  fetch("/_sandbox/config", {method: "PUT", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({auto_read: ev.target.checked})});
});
load();
setInterval(load, 3000);
</script></body></html>
"""

PHONE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Customer phone</title><link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}
[hidden]{display:none!important}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#d1d7db;
  display:flex;justify-content:center;min-height:100vh}
.phone{width:100%;max-width:420px;height:100vh;max-height:860px;display:flex;flex-direction:column;
  background:#efeae2;box-shadow:0 0 12px #0003}
.top{background:#008069;color:#fff;padding:10px 12px;display:flex;gap:10px;align-items:center}
.top a{color:#fff;text-decoration:none;font-size:20px}
.top .who{flex:1;min-width:0}
.top .title{font-weight:600}
.top .sub{font-size:12px;opacity:.85}
.top input{width:110px;padding:4px 6px;border-radius:4px;border:0;font:inherit;font-size:13px}
#messages{flex:1;overflow-y:auto;padding:12px 10px;display:flex;flex-direction:column;gap:6px}
.bubble{max-width:80%;padding:6px 8px 4px;border-radius:8px;box-shadow:0 1px 1px #0002;font-size:14.5px;
  line-height:1.35;white-space:pre-wrap;word-wrap:break-word;position:relative;cursor:pointer}
.in{align-self:flex-end;background:#d9fdd3}
.out{align-self:flex-start;background:#fff}
.bubble .header{font-weight:600;margin-bottom:2px}
.bubble img{max-width:100%;border-radius:6px;display:block;margin-bottom:4px}
.bubble .quote{border-left:3px solid #06cf9c;background:#0000000d;padding:3px 6px;border-radius:4px;
  font-size:12.5px;color:#54656f;margin-bottom:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.meta{font-size:11px;color:#667781;text-align:right;margin-top:2px}
.tick{margin-left:4px;letter-spacing:-3px}
.tick.read{color:#53bdeb}
.tick.failed{color:#b3261e;letter-spacing:0}
.error{color:#b3261e;font-size:12px;margin-top:2px}
.buttons{display:flex;flex-direction:column;gap:4px;margin-top:6px}
.buttons button{background:#fff;border:1px solid #d1d7db;color:#027eb5;border-radius:6px;padding:6px;
  font:inherit;cursor:pointer}
.kind{font-size:12px;color:#667781}
.bar{background:#f0f2f5;padding:8px;display:flex;gap:6px;align-items:center}
.bar input[type=text]{flex:1;padding:10px 12px;border-radius:20px;border:0;font:inherit}
.bar button,.bar label{background:#008069;color:#fff;border:0;border-radius:50%;width:40px;height:40px;
  display:flex;align-items:center;justify-content:center;cursor:pointer;font-size:18px;flex:none}
.bar label{background:#8696a0}
#replying{background:#f0f2f5;padding:6px 10px;font-size:12.5px;color:#54656f;display:flex;gap:6px}
#replying span{flex:1;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
#replying button{border:0;background:none;cursor:pointer;font-size:14px}
#notice{font-size:12px;text-align:center;color:#54656f;background:#fff8c5;padding:4px}
</style></head>
<body><div class="phone">
<div class="top"><a href="/" title="All customers">&larr;</a>
<div class="who"><div class="title" id="business">Business</div><div class="sub" id="customer"></div></div>
<input id="profile" placeholder="Your name" title="Your WhatsApp profile name"></div>
<div id="notice" hidden></div>
<div id="messages"></div>
<div id="replying" hidden><span id="replying-text"></span>
<button id="cancel-reply" title="Cancel">&times;</button></div>
<form class="bar" id="composer">
<label title="Attach a photo or file">+<input type="file" id="file" hidden></label>
<input type="text" id="text" placeholder="Message" autocomplete="off">
<button type="submit" title="Send">&#10148;</button>
</form></div>
<script>
"use strict";
const digits = location.pathname.split("/").filter(Boolean).pop();
const params = new URLSearchParams(location.search);
const number = params.get("number") || "";
const profileKey = "sandbox-profile-" + digits;
const profile = document.getElementById("profile");
profile.value = params.get("name") || localStorage.getItem(profileKey) || "";
profile.addEventListener("change", () => localStorage.setItem(profileKey, profile.value));
if (profile.value) localStorage.setItem(profileKey, profile.value);
document.getElementById("customer").textContent = "You are +" + digits;
let replyTo = null, lastRendered = "", thread = [], autoRead = true;

const el = (tag, text, cls) => {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
};
function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text || "";
  box.hidden = !text;
}
async function api(method, url, body) {
  const response = await fetch(url, {method, headers: {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
  return data;
}
async function send(payload) {
  try {
    await api("POST", "/_sandbox/customers/" + digits + "/messages",
      Object.assign({to: number, profile_name: profile.value}, replyTo ? {reply_to: replyTo.id} : {},
        payload));
    setReply(null);
    notice("");
    await poll();
  } catch (err) { notice("Not sent: " + err.message); }
}
function setReply(message) {
  replyTo = message;
  document.getElementById("replying").hidden = !message;
  document.getElementById("replying-text").textContent = message ? "Replying to: " + preview(message) : "";
}
function preview(message) {
  return message.text || message.caption || ("[" + message.type + "]");
}
function ticks(message) {
  const status = message.status;
  if (status === "failed") return el("span", "\\u2717", "tick failed");
  if (status === "read") return el("span", "\\u2713\\u2713", "tick read");
  if (status === "delivered" || status === "received") return el("span", "\\u2713\\u2713", "tick");
  if (status === "sent") return el("span", "\\u2713", "tick");
  return el("span", "\\u23F1", "tick");
}
function mediaSource(message) {
  if (message.media_id) return "/_sandbox/media/" + encodeURIComponent(message.media_id) + "/view";
  return message.link || "";
}
function render(message) {
  const bubble = el("div", undefined, "bubble " + (message.direction === "in" ? "in" : "out"));
  bubble.title = "Click to reply";
  bubble.addEventListener("click", ev => { if (ev.target.tagName !== "BUTTON") setReply(message); });
  if (message.context_id && message.type !== "reaction") {
    const quoted = thread.find(m => m.id === message.context_id);
    bubble.appendChild(el("div", quoted ? preview(quoted) : "Quoted message", "quote"));
  }
  if (message.header) bubble.appendChild(el("div", message.header, "header"));
  const source = mediaSource(message);
  if ((message.type === "image" || message.type === "sticker") && source) {
    const img = el("img");
    img.src = source;
    img.alt = message.caption || message.type;
    bubble.appendChild(img);
  } else if (["video", "audio", "document"].includes(message.type)) {
    const link = el("a", "[" + message.type + "] " + (message.filename || "open"), "kind");
    if (source) { link.href = source; link.target = "_blank"; }
    bubble.appendChild(link);
  } else if (message.type === "reaction") {
    bubble.appendChild(el("div", "reacted " + (message.text || "(removed)"), "kind"));
  }
  if (message.text && message.type !== "reaction") bubble.appendChild(el("div", message.text));
  if (message.template) bubble.appendChild(el("div", "template " + message.template.name, "kind"));
  const buttons = message.buttons || [], rows = message.list_rows || [];
  if (message.direction === "out" && (buttons.length || rows.length)) {
    const box = el("div", undefined, "buttons");
    buttons.forEach(b => {
      const button = el("button", b.title);
      button.type = "button";
      button.addEventListener("click", () => { replyTo = message; send(message.template
        ? {type: "button", button: {payload: b.id, text: b.title}}
        : {type: "interactive", button_reply: {id: b.id, title: b.title}}); });
      box.appendChild(button);
    });
    rows.forEach(r => {
      const button = el("button", r.title);
      button.type = "button";
      button.addEventListener("click", () => { replyTo = message;
        send({type: "interactive", list_reply: {id: r.id, title: r.title}}); });
      box.appendChild(button);
    });
    bubble.appendChild(box);
  }
  const meta = el("div", new Date(message.timestamp * 1000).toLocaleTimeString([],
    {hour: "2-digit", minute: "2-digit"}), "meta");
  meta.appendChild(ticks(message));
  bubble.appendChild(meta);
  (message.errors || []).forEach(e => bubble.appendChild(el("div", "\\u2717 " + e.code + " " + e.title +
    (e.error_data && e.error_data.details ? ": " + e.error_data.details : ""), "error")));
  return bubble;
}
async function poll() {
  try {
    const url = "/_sandbox/customers/" + digits + "/thread?number=" + encodeURIComponent(number);
    const data = await api("GET", url);
    thread = data;
    const snapshot = JSON.stringify(data.map(m => [m.id, m.status, (m.errors || []).length]));
    if (snapshot !== lastRendered) {
      const box = document.getElementById("messages");
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
      box.replaceChildren(...data.map(render));
      if (atBottom || !lastRendered) box.scrollTop = box.scrollHeight;
      lastRendered = snapshot;
    }
    const unread = data.some(m => m.direction === "out" && m.status === "delivered");
    if (!autoRead && unread && document.visibilityState === "visible") {
      await api("POST", "/_sandbox/customers/" + digits + "/read", {number});
    }
    if (document.getElementById("notice").textContent.startsWith("Sandbox")) notice("");
  } catch (err) { notice("Sandbox: " + err.message); }
}
async function loadHeader() {
  try {
    const business = await api("GET", "/_sandbox/numbers/" + encodeURIComponent(number));
    document.getElementById("business").textContent = business.verified_name + " " +
      business.display_phone_number;
    document.title = business.verified_name + " \\u2014 +" + digits;
    const config = await api("GET", "/_sandbox/config");
    autoRead = config.auto_read;
  } catch (err) { notice("Sandbox: " + err.message); }
}
document.getElementById("composer").addEventListener("submit", ev => {
  ev.preventDefault();
  const input = document.getElementById("text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send({type: "text", text});
});
document.getElementById("cancel-reply").addEventListener("click", () => setReply(null));
document.getElementById("file").addEventListener("change", ev => {
  const file = ev.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const base64 = String(reader.result).split(",", 2)[1];
    const mime = file.type || "application/octet-stream";
    const kind = mime.startsWith("image/") ? "image" : mime.startsWith("video/") ? "video"
      : mime.startsWith("audio/") ? "audio" : "document";
    const caption = document.getElementById("text").value.trim();
    document.getElementById("text").value = "";
    send({type: kind, media_base64: base64, mime_type: mime, filename: file.name,
      caption: kind === "audio" ? undefined : caption || undefined});
  };
  reader.readAsDataURL(file);
  ev.target.value = "";
});
document.addEventListener("visibilitychange", poll);
loadHeader().then(poll);
setInterval(poll, 1000);
setInterval(loadHeader, 10000);
</script></body></html>
"""
