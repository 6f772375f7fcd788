// The placeq web page: talks only to the public HTTP API.
const $ = (id) => document.getElementById(id);
// With PLACEQ_AUTH on, routes answer 401 until an API key is entered; it is kept for this tab only.
const KEY = "placeq-api-key";
function headers() {
  const h = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}
function askForKey() { $("keybox").hidden = false; }

function esc(s) { return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); }

function body() {
  const text = $("payload").value.trim();
  if (!text) throw new Error("paste or upload a placement first");
  if (text.includes("\n{") && !text.startsWith("[")) {  // .jsonl: one placement a line
    return { placements: text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)) };
  }
  const data = JSON.parse(text);
  if (Array.isArray(data)) return { placements: data };
  return data.placements || data.placement ? data : { placement: data };
}

async function call(method, url, payload) {
  const r = await fetch(url, { method, headers: headers(), body: payload ? JSON.stringify(payload) : undefined });
  if (r.status === 401) askForKey();
  const ct = r.headers.get("content-type") || "";
  const data = ct.includes("json") ? await r.json() : await r.blob();
  if (!r.ok) throw new Error(`${r.status}: ${JSON.stringify(data.detail ?? data.error ?? data, null, 1)}`);
  return data;
}

async function predict() {
  $("error").textContent = "";
  try {
    const req = body();
    const res = await call("POST", "/predict", req);
    const rows = res.results.map((s, i) =>
      `<tr><td>${i}</td><td>${s.probability.toFixed(3)}</td><td class="${s.prune ? "bad" : "good"}">${s.prune ? "prune" : "route it"}</td></tr>`).join("");
    $("result").innerHTML = `<p>design <b>${esc(res.design)}</b>, model <b>${esc(res.model.design)} v${res.model.version}</b>,
      threshold ${res.threshold.toFixed(3)}</p><table><thead><tr><th>#</th><th>P(bad)</th><th>decision</th></tr></thead><tbody>${rows}</tbody></table>`;
    const first = req.placement || req.placements[0];
    const png = await call("POST", "/draw", first);
    $("drawing").src = URL.createObjectURL(png);
    $("drawing").hidden = false;
  } catch (e) { $("error").textContent = e.message; }
}

async function refresh() {
  try {
    const ready = await fetch("/readyz").then((r) => r.json());
    $("ready").textContent = ready.ready ? "ready" : "not ready";
  } catch (e) { $("ready").textContent = "unreachable"; }
  try {
    const models = await call("GET", "/models");
    $("models").tBodies[0].innerHTML = models.map((m) => `<tr><td>${esc(m.design)}</td><td>${m.version}</td>
      <td>${esc(m.arch)}</td><td>${m.threshold.toFixed(3)}</td>
      <td>${esc(Object.entries(m.metrics).filter(([, v]) => typeof v === "number").slice(0, 4).map(([k, v]) => `${k}=${(+v).toFixed(3)}`).join(" "))}</td>
      <td>${esc(m.aliases.join(", "))}</td>
      <td>${m.aliases.includes("live") ? "" : `<button data-d="${esc(m.design)}" data-v="${m.version}">activate</button>`}</td></tr>`).join("");
  } catch (e) { /* 401 until an API key is entered, when keys are on */ }
  try {
    const jobs = await call("GET", "/jobs?limit=20");
    $("jobs").tBodies[0].innerHTML = jobs.map((j) => `<tr><td>${esc(j.id.slice(0, 8))}</td><td>${esc(j.kind)}</td>
      <td>${esc(j.design)}</td><td>${esc(j.state)}</td><td><progress max="1" value="${j.progress}"></progress></td>
      <td>${esc(j.error || (j.result ? JSON.stringify(j.result).slice(0, 120) : ""))}</td></tr>`).join("");
  } catch (e) { /* same */ }
}

$("predict").onclick = predict;
$("apikey").value = sessionStorage.getItem(KEY) || "";
$("keybox").hidden = !$("apikey").value;
$("apikey").onchange = () => {
  const key = $("apikey").value.trim();
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
  refresh();
};
$("example").onclick = async () => {
  const ex = await call("GET", "/examples/placement");
  $("payload").value = JSON.stringify(ex, null, 1);
};
$("file").onchange = async (ev) => { $("payload").value = await ev.target.files[0].text(); };
$("models").onclick = async (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  try { await call("POST", `/models/${b.dataset.d}/${b.dataset.v}/activate`, { reason: "web page" }); }
  catch (e) { $("error").textContent = e.message; }
  refresh();
};
refresh();
setInterval(refresh, 3000);
