// emovec monitor, live page: sends a chat message, reads the server-sent events of its
// monitored generation, and draws each token coloured by an emotion (per-transcript scaling by
// the 99th percentile of |reading|, as the paper displays it), a live chart and the alerts.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#d62728", "#ff7f0e", "#9467bd", "#1f77b4", "#2ca02c", "#8c564b", "#e377c2"];
const state = { info: null, turns: [], current: null, drawQueued: false };
window.emovec = state; // for tests and for the curious

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// numpy's default percentile (linear interpolation between closest ranks)
function percentile(values, q) {
  if (!values.length) return 0;
  const s = values.slice().sort((a, b) => a - b);
  const at = (q / 100) * (s.length - 1);
  const lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

function colour(value, scale) {
  const alpha = scale > 0 ? Math.min(Math.abs(value) / scale, 1) : 0;
  const rgb = value > 0 ? "214,39,40" : "31,119,180";
  return "rgba(" + rgb + "," + alpha.toFixed(3) + ")";
}

function newTurn(message, settings) {
  const el = document.createElement("div");
  el.className = "turn";
  el.innerHTML =
    '<div class="user"></div><details class="prompt"><summary>prompt as the model read it' +
    '</summary><div class="tokens"></div></details><div class="reply tokens"></div>' +
    '<div class="scale"></div><div class="meta"></div>';
  el.querySelector(".user").textContent = message;
  $("turns").appendChild(el);
  const turn = {
    el, message, settings, id: null, header: null, tokens: [], alerts: [], end: null,
    record: null, scale: 0,
  };
  state.turns.push(turn);
  state.current = turn;
  $("alerts").innerHTML = "";
  return turn;
}

function tokenValues(turn, event) {
  const site = turn.header.sites[0];
  const table = event.z !== null ? event.z : event.readings;
  return table[site];
}

function colourEmotion(turn) {
  const chosen = $("colour-by").value;
  return turn.header.emotions.includes(chosen) ? chosen : turn.header.emotions[0];
}

function recolour(turn) {
  if (!turn.header) return;
  const emotion = colourEmotion(turn);
  const minPos = turn.header.min_position;
  const mags = turn.tokens.filter((t) => t.position >= minPos).map((t) => Math.abs(t.values[emotion]));
  turn.scale = percentile(mags, 99);
  for (const t of turn.tokens) t.span.style.background = colour(t.values[emotion], turn.scale);
  const unit = turn.header.calibrated ? "z" : "raw";
  turn.el.querySelector(".scale").textContent =
    "coloured by " + emotion + " (" + unit + "): red above, blue below baseline; full colour at |" +
    unit + "| = " + turn.scale.toFixed(2) + " (99th percentile of this transcript)";
}

function describeAction(a) {
  if (a.kind === "record") return "flagged";
  if (a.kind === "stop") return "stopped the reply";
  if (a.kind === "intervene" && a.mode === "steer")
    return "steering toward " + a.toward + " (strength " + a.strength + ") from step " + a.from_step;
  if (a.kind === "intervene") return "ablating " + (a.mode || "") + " from step " + a.from_step;
  return a.kind;
}

function addAlerts(turn, event, token) {
  event.alerts.forEach((alert, i) => {
    const action = event.actions[i] || { kind: "record" };
    const values = Object.entries(alert.values)
      .map(([e, v]) => e + " " + v.toFixed(2)).join(", ");
    const li = document.createElement("li");
    li.textContent =
      alert.rule + " fired at " + JSON.stringify(token.text) + " (" + event.phase + " token, step " +
      event.step + "): " + values + " \u2192 " + describeAction(action);
    $("alerts").appendChild(li);
    turn.alerts.push({ rule: alert.rule, index: turn.tokens.length - 1, action: action.kind });
  });
  if (event.alerts.length) token.span.classList.add("alert");
}

function onToken(turn, event) {
  const values = tokenValues(turn, event);
  const span = document.createElement("span");
  span.className = "tok";
  const text = event.token === null ? "<" + event.token_id + ">" : event.token;
  span.textContent = text;
  span.title = Object.entries(values).map(([e, v]) => e + " " + v.toFixed(2)).join("\n");
  const where = event.phase === "generated" ? ".reply" : ".prompt .tokens";
  turn.el.querySelector(where).appendChild(span);
  const token = { text, phase: event.phase, position: event.position, values, span };
  turn.tokens.push(token);
  addAlerts(turn, event, token);
  recolour(turn);
  queueDraw();
}

function onHeader(turn, event) {
  turn.header = event;
  const select = $("colour-by");
  const keep = select.value;
  select.innerHTML = "";
  for (const e of event.emotions) select.add(new Option(e, e));
  select.value = event.emotions.includes(keep) ? keep : event.emotions[0];
  $("chart-legend").innerHTML = "";
  event.emotions.forEach((e, i) => {
    const s = document.createElement("span");
    s.style.color = PALETTE[i % PALETTE.length];
    s.textContent = "\u2014 " + e;
    $("chart-legend").appendChild(s);
  });
}

function onEnd(turn, event) {
  turn.end = event;
  const row = event.rows[0];
  turn.el.querySelector(".meta").textContent =
    row.n_generated + " tokens, stopped: " + row.stopped + ", " + row.alerts + " alert(s)" +
    (event.edits_added.length ? ", steering edit added at step " + event.edits_added[0].step : "");
}

function handle(turn, event) {
  if (event.type === "queued")
    setStatus(event.ahead ? "queued behind " + event.ahead + " request(s)..." : "starting...");
  else if (event.type === "start") setStatus("generating...");
  else if (event.type === "header") onHeader(turn, event);
  else if (event.type === "token") onToken(turn, event);
  else if (event.type === "end") onEnd(turn, event);
  else if (event.type === "done") {
    turn.id = event.id;
    setStatus("done in " + event.seconds.toFixed(2) + " s");
  } else if (event.type === "error") setStatus(event.error, true);
}

// -- the live chart ------------------------------------------------------------------------
function queueDraw() {
  if (state.drawQueued) return;
  state.drawQueued = true;
  requestAnimationFrame(() => { state.drawQueued = false; draw(); });
}

function draw() {
  const turn = state.current, canvas = $("chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!turn || !turn.header || !turn.tokens.length) return;
  const pts = turn.tokens.filter((t) => t.position >= turn.header.min_position);
  if (!pts.length) return;
  const emotions = turn.header.emotions;
  let lo = 0, hi = 0;
  for (const t of pts) for (const e of emotions) { lo = Math.min(lo, t.values[e]); hi = Math.max(hi, t.values[e]); }
  const threshold = turn.settings.rules && turn.settings.rules.length ? null : Number(turn.settings.threshold);
  if (threshold !== null && isFinite(threshold)) hi = Math.max(hi, threshold);
  const pad = 24, w = canvas.width - pad - 4, h = canvas.height - 2 * 8;
  const x = (i) => pad + (pts.length > 1 ? (i * w) / (pts.length - 1) : 0);
  const y = (v) => 8 + h - ((v - lo) / (hi - lo || 1)) * h;
  ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(pad + w, y(0)); ctx.stroke();
  const firstGen = pts.findIndex((t) => t.phase === "generated");
  if (firstGen > 0) { ctx.fillStyle = "#f2f2f2"; ctx.fillRect(pad, 0, x(firstGen) - pad, canvas.height); }
  if (threshold !== null && isFinite(threshold)) {
    ctx.setLineDash([4, 3]); ctx.strokeStyle = "#000";
    ctx.beginPath(); ctx.moveTo(pad, y(threshold)); ctx.lineTo(pad + w, y(threshold)); ctx.stroke();
    ctx.setLineDash([]);
  }
  emotions.forEach((e, k) => {
    ctx.strokeStyle = PALETTE[k % PALETTE.length]; ctx.lineWidth = 1.5; ctx.beginPath();
    pts.forEach((t, i) => (i ? ctx.lineTo(x(i), y(t.values[e])) : ctx.moveTo(x(i), y(t.values[e]))));
    ctx.stroke();
  });
  ctx.fillStyle = "#000";
  for (const a of turn.alerts) {
    const i = pts.indexOf(turn.tokens[a.index]);
    if (i >= 0) ctx.fillRect(x(i) - 1, 0, 2, canvas.height);
  }
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(hi.toFixed(1), 0, 12); ctx.fillText(lo.toFixed(1), 0, canvas.height - 2);
}

// -- sending, streaming -------------------------------------------------------------------
function settings() {
  const out = {
    watch: $("watch").value.split(",").map((s) => s.trim()).filter(Boolean),
    threshold: Number($("threshold").value),
    sustain: Number($("sustain").value),
    action: $("action").value,
    strength: Number($("strength").value),
    max_new_tokens: Number($("max-new-tokens").value),
  };
  const rules = $("rules").value.trim();
  if (rules) out.rules = JSON.parse(rules); // a SyntaxError is reported by send()
  return out;
}

async function readStream(response, turn) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) handle(turn, JSON.parse(data));
    }
  }
}

async function send(event) {
  event.preventDefault();
  const message = $("message").value;
  if (!message.trim() || document.body.dataset.state === "streaming") return;
  let body;
  try { body = { message, ...settings() }; } catch (err) { setStatus("Rules: " + err.message, true); return; }
  document.body.dataset.state = "streaming";
  $("send").disabled = true;
  setStatus("sending...");
  try {
    const response = await fetch("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) {
      const err = await response.json().catch(() => ({ error: response.statusText }));
      const retry = response.headers.get("Retry-After");
      setStatus("Error " + response.status + ": " + err.error + (retry ? " (retry in " + retry + " s)" : ""), true);
      return;
    }
    const turn = newTurn(message, body);
    await readStream(response, turn);
    $("download").disabled = !turn.id;
  } catch (err) {
    setStatus("Connection lost: " + err.message, true);
  } finally {
    document.body.dataset.state = "done";
    $("send").disabled = false;
  }
}

// -- download and reopen ------------------------------------------------------------------
async function download() {
  const turn = state.current;
  if (!turn) return;
  let record = turn.record;
  if (!record) {
    const response = await fetch("/api/transcripts/" + turn.id);
    if (!response.ok) { setStatus("Download failed: " + (await response.json()).error, true); return; }
    record = turn.record = await response.json();
  }
  const blob = new Blob([JSON.stringify(record, null, 1)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "emovec-transcript-" + record.id + ".json";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function reopen() {
  const file = $("open").files[0];
  if (!file) return;
  const response = await fetch("/api/transcripts/check", { method: "POST", body: await file.text() });
  const data = await response.json();
  $("open").value = "";
  if (!response.ok) { setStatus("Cannot open " + file.name + ": " + data.error, true); return; }
  const turn = newTurn(data.request.message, data.request);
  turn.record = data;
  turn.id = data.id;
  for (const e of data.events) handle(turn, e);
  $("download").disabled = false;
  setStatus("opened " + file.name + " (" + data.events.length + " events)");
  document.body.dataset.state = "done";
}

async function start() {
  const info = (state.info = await (await fetch("/api/info")).json());
  const d = info.defaults;
  $("model").textContent =
    info.model_id + " \u00b7 reading " + info.site + " \u00b7 " +
    (info.calibrated ? "calibrated (" + info.calibrated_emotions.length + " emotions): thresholds in z" : "not calibrated: raw thresholds");
  $("unit").textContent = info.calibrated ? "z" : "raw";
  const list = $("emotion-list");
  for (const e of info.calibrated ? info.calibrated_emotions : info.emotions) list.appendChild(new Option(e));
  $("watch").value = d.watch.join(", ");
  $("threshold").value = d.threshold;
  $("sustain").value = d.sustain;
  $("action").value = d.action;
  $("action").options[2].text = "steer toward " + d.toward;
  $("strength").value = d.strength;
  $("max-new-tokens").value = d.max_new_tokens;
  $("max-new-tokens").max = info.limits.max_new_tokens;
  $("message").maxLength = info.limits.max_chars;
  $("chat-form").addEventListener("submit", send);
  $("message").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) send(e); });
  $("colour-by").addEventListener("change", () => { state.turns.forEach(recolour); });
  $("download").addEventListener("click", download);
  $("open").addEventListener("change", reopen);
  document.body.dataset.state = "idle";
}

start().catch((err) => setStatus("Cannot reach the server: " + err.message, true));
