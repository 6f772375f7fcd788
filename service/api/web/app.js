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

// FastAPI's 422 detail is a list of {loc, msg}: one "field: message" line each, the field without "body".
function problem(detail) {
  if (!Array.isArray(detail)) return typeof detail === "string" ? detail : JSON.stringify(detail, null, 1);
  return detail.map((e) => {
    const loc = (e.loc || []).filter((p) => p !== "body").join(".");
    return !loc || String(e.msg).startsWith(loc) ? e.msg : `${loc}: ${e.msg}`;
  }).join("\n");
}

async function call(method, url, payload) {
  const r = await fetch(url, { method, headers: headers(), body: payload ? JSON.stringify(payload) : undefined });
  if (r.status === 401) askForKey();
  const ct = r.headers.get("content-type") || "";
  const data = ct.includes("json") ? await r.json() : await r.blob();
  if (!r.ok) throw new Error(`${r.status}: ${problem(data.detail ?? data.error ?? data)}`);
  return data;
}

async function predict() {
  $("error").textContent = "";
  try {
    const req = body();
    const rate = $("prunerate").value.trim();
    if (rate) req.prune_rate = Number(rate);  // by rate within the batch; the API names a bad one (422)
    const res = await call("POST", "/predict", req);
    const rows = res.results.map((s, i) =>
      `<tr><td>${i}</td><td>${s.probability.toFixed(3)}</td><td class="${s.prune ? "bad" : "good"}">${s.prune ? "prune" : "route it"}</td></tr>`).join("");
    $("result").innerHTML = `<p>design <b>${esc(res.design)}</b>, model <b>${esc(res.model.design)} v${res.model.version}</b>,
      ${res.rule === "rate" ? `pruning the ${Math.round(100 * res.prune_rate)}% highest-scoring of the batch`
        : `pruning at threshold ${res.threshold.toFixed(3)}`}: ${res.pruned} of ${res.results.length} pruned</p><table><thead><tr><th>#</th><th>P(bad)</th><th>decision</th></tr></thead><tbody>${rows}</tbody></table>`;
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
      <td>${esc(Object.entries(m.metrics).filter(([, v]) => typeof v === "number").slice(0, 4).map(([k, v]) => `${k}=${+(+v).toPrecision(3)}`).join(" "))}</td>
      <td>${esc(m.aliases.join(", "))}</td>
      <td>${m.aliases.includes("live")
        ? `<button data-action="rollback" data-d="${esc(m.design)}">roll back</button>`
        : `<button data-action="activate" data-d="${esc(m.design)}" data-v="${m.version}">activate</button>`}</td></tr>`).join("");
  } catch (e) { /* 401 until an API key is entered, when keys are on */ }
  try {
    const jobs = await call("GET", "/jobs?limit=20");
    $("jobs").tBodies[0].innerHTML = jobs.map((j) => `<tr><td>${esc(j.id.slice(0, 8))}</td><td>${esc(j.kind)}</td>
      <td>${esc(j.design)}</td><td>${esc(j.state)}</td><td><progress max="1" value="${j.progress}"></progress></td>
      <td>${esc(j.error || (j.result ? JSON.stringify(j.result).slice(0, 120) : ""))}</td></tr>`).join("");
  } catch (e) { /* same */ }
}

// --- designs, jobs: the admin side of the API (POST /designs, /label, /finetune; GET /jobs/{id}) ---

function setStatus(id, text, bad = false) {
  $(id).innerHTML = text ? `<span class="${bad ? "err" : "ok"}">${esc(text)}</span>` : "";
}

async function readFile(input, what) {
  const f = input.files[0];
  if (!f) throw new Error(`choose a ${what} file first`);
  return { name: f.name, text: await f.text() };
}

// A JSON list of placements, {"placements": [...]}, one placement, or .jsonl (one placement a line).
function parsePlacements(text) {
  let data;
  try { data = JSON.parse(text); } catch (e) {
    return text.split("\n").filter((l) => l.trim()).map((l, i) => {
      try { return JSON.parse(l); } catch (err) { throw new Error(`placements line ${i + 1}: ${err.message}`); }
    });
  }
  return Array.isArray(data) ? data : data.placements || [data];
}

// One label per placement: a JSON list (or {"labels"} / {"values"}), or numbers separated by lines or commas.
// Only 0 and 1 are labels; anything else is a metric value, which the job relabels by its own worst 25%.
function parseLabels(text) {
  let data;
  try { data = JSON.parse(text); } catch (e) {
    data = text.split(/[\s,]+/).filter((w) => w).map(Number);
  }
  if (!Array.isArray(data)) return data.labels ? { labels: data.labels } : { values: data.values };
  if (data.some((v) => typeof v !== "number" || Number.isNaN(v))) throw new Error("labels: every entry must be a number");
  return data.every((v) => v === 0 || v === 1) ? { labels: data } : { values: data };
}

async function register() {
  setStatus("design-status", "");
  try {
    const f = await readFile($("design-file"), "netlist or circuit JSON");
    const name = $("design-name").value.trim();
    let req;
    if (f.name.toLowerCase().endsWith(".json")) {
      const data = JSON.parse(f.text);
      req = "netlist" in data || "circuit" in data ? data : { circuit: name ? { ...data, name } : data };
    } else {
      req = name ? { netlist: f.text, name } : { netlist: f.text };
    }
    const d = await call("POST", "/designs", req);
    setStatus("design-status", `registered ${d.name}: ${d.devices} devices, ${d.nets} nets (from ${d.source})`);
    $("job-design").value = d.name;
  } catch (e) { setStatus("design-status", e.message, true); }
}

let lastValues = null;  // the metric values of the last label job watched, for "fine-tune on these values"
let lastPlacements = null;  // the placements of the last label job started from the explore panel
const auditJobs = new Set();  // label jobs of audit layouts: never offered for fine-tuning
let watching = null;    // id of the job the panel follows; a newer submission takes over

function jobSummary(j) {
  const r = j.result || {};
  if (j.state === "failed") return `<span class="err">${esc(j.error || "failed")}</span>`;
  if (j.state !== "succeeded") return "";
  if (j.kind === "finetune") {
    return `<span class="ok">published ${esc(r.design)} v${r.version} (${esc(r.recipe)} recipe${r.activated ? ", live" : ""})</span>`;
  }
  const n = (r.values || []).length;
  if (auditJobs.has(j.id)) {
    return `<span class="ok">audit set: ${n - (r.failed || 0)} of ${n} simulated (${esc(r.metric)})</span>`;
  }
  return `<span class="ok">${n - (r.failed || 0)} of ${n} simulated (${esc(r.metric)})</span>
    <button id="use-values">Fine-tune on these values</button>`;
}

async function watch(id) {
  watching = id;
  for (;;) {
    if (watching !== id) return;
    let j;
    try { j = await call("GET", `/jobs/${encodeURIComponent(id)}`); }
    catch (e) { setStatus("watch", e.message, true); return; }
    if (watching !== id) return;
    $("watch").innerHTML = `job <code>${esc(j.id.slice(0, 8))}</code> ${esc(j.kind)} of ${esc(j.design)}:
      <b class="state">${esc(j.state)}</b> <progress max="1" value="${j.progress}"></progress> ${jobSummary(j)}`;
    if (j.state === "succeeded" || j.state === "failed") {
      if (j.kind === "label" && j.result && !auditJobs.has(j.id)) lastValues = j.result.values;
      refresh();
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function submit(kind, values, placements, audit = false) {
  watching = null;  // the panel stops showing the previous job at once
  $("watch").textContent = `starting ${kind === "label" ? "labelling" : "fine-tuning"}...`;
  try {
    const given = placements || (values && lastPlacements);
    const req = { design: $("job-design").value.trim(),
                  placements: given || parsePlacements((await readFile($("job-placements"), "placements")).text) };
    if (kind === "label" && !audit) lastPlacements = placements || null;  // fine-tuning on its values uses these
    if (kind === "finetune") {
      Object.assign(req, values ? { values } : parseLabels((await readFile($("job-labels"), "labels")).text));
      req.epochs = Number($("job-epochs").value);
      req.activate = $("job-activate").checked;
    }
    const job = await call("POST", `/${kind}`, req);
    if (audit) auditJobs.add(job.id);
    watch(job.id);
    return job.id;
  } catch (e) { setStatus("watch", e.message, true); }
  return null;
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
  const d = encodeURIComponent(b.dataset.d);
  try {
    const m = b.dataset.action === "rollback"
      ? await call("POST", `/models/${d}/rollback`, { reason: "web page" })
      : await call("POST", `/models/${d}/${b.dataset.v}/activate`, { reason: "web page" });
    setStatus("models-status", `${b.dataset.action === "rollback" ? "rolled back" : "activated"}: ${m.design} v${m.version} is live`);
  } catch (e) { setStatus("models-status", e.message, true); }
  refresh();
};
// --- explore: POST /designs/{name}/explore, its summary, placements and suggestions ---

function histogram(h) {
  const W = 420, H = 150, n = h.kept.length, bw = W / n;
  const top = Math.max(1, ...h.kept.map((k, i) => k + h.pruned[i]));
  const bars = h.kept.map((k, i) => {
    const hk = (H * k) / top, hp = (H * h.pruned[i]) / top, x = i * bw;
    return `<rect x="${x + 1}" y="${H - hk}" width="${bw - 2}" height="${hk}" fill="#1b7f3b"><title>${k} kept</title></rect>
      <rect x="${x + 1}" y="${H - hk - hp}" width="${bw - 2}" height="${hp}" fill="#b3261e"><title>${h.pruned[i]} pruned</title></rect>`;
  }).join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<text x="${Math.min(W - 14, t * W)}" y="${H + 14}" font-size="10">${t}</text>`).join("");
  return `${bars}<line x1="0" y1="${H}" x2="${W}" y2="${H}" stroke="#888"/>${ticks}
    <text x="${W - 120}" y="12" font-size="11"><tspan fill="#1b7f3b">kept</tspan> / <tspan fill="#b3261e">pruned</tspan></text>`;
}

async function lines(url) {
  const r = await fetch(url, { headers: headers() });
  if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`);
  return (await r.text()).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

async function drawInto(img, placement) { img.src = URL.createObjectURL(await call("POST", "/draw", placement)); }

function download(a, rows) {
  a.href = URL.createObjectURL(new Blob([rows.map((r) => JSON.stringify(r)).join("\n") + "\n"], { type: "application/x-ndjson" }));
}

let suggested = null;  // the placements the explore panel proposes to label
let suggestedIdx = [];  // their indices in the explored space
let explored = null;  // the URL of the last explore job's summary

function progressChart(p) {
  const W = 420, H = 160, L = 36, R = 12;
  const xs = p.versions.map((v) => v.labels ?? 0);
  const maxX = Math.max(16, ...xs), maxY = 1.15 * Math.max(0.05, p.random_pruning, ...p.versions.map((v) => v.for));
  const X = (x) => L + ((W - L - R) * x) / maxX, Y = (y) => H - ((H - 12) * y) / maxY;
  const known = p.versions.filter((v) => v.labels !== null).sort((a, b) => a.labels - b.labels);
  const line = known.map((v) => `${X(v.labels).toFixed(1)},${Y(v.for).toFixed(1)}`).join(" ");
  const dots = p.versions.map((v) => `<circle cx="${X(v.labels ?? 0)}" cy="${Y(v.for)}" r="5"
    fill="${v.live ? "#1b7f3b" : "#2f5fb3"}"><title>${esc(v.design)} v${v.version}: ${v.labels ?? "?"} labels, FOR ${(100 * v.for).toFixed(1)}%</title></circle>`).join("");
  const pct = (y) => `${Math.round(100 * y)}%`;
  const yt = [0, maxY / 2, maxY].map((y) => `<text x="2" y="${Y(y) + 4}" font-size="10">${pct(y)}</text>`).join("");
  const xt = [0, maxX / 2, maxX].map((x) => `<text x="${X(x) - 6}" y="${H + 14}" font-size="10">${Math.round(x)}</text>`).join("");
  return `<line x1="${L}" y1="${H}" x2="${W - R}" y2="${H}" stroke="#888"/><line x1="${L}" y1="6" x2="${L}" y2="${H}" stroke="#888"/>
    <line x1="${L}" y1="${Y(p.random_pruning)}" x2="${W - R}" y2="${Y(p.random_pruning)}" stroke="#b3261e" stroke-dasharray="4 3"/>
    <text x="${W - 120}" y="${Y(p.random_pruning) - 4}" font-size="10" fill="#b3261e">random pruning</text>
    <polyline points="${line}" fill="none" stroke="#2f5fb3"/>${dots}${yt}${xt}
    <text x="${W / 2 - 40}" y="${H + 28}" font-size="11">labels fine-tuned on</text>
    <text x="${L + 4}" y="14" font-size="11">FOR at ${pct(p.prune_rate)} pruned (${p.audit} audit layouts)</text>`;
}

async function labelAudit() {
  if (!explored) return;
  try {
    const k = Number($("ex-audit-k").value);
    const exclude = suggestedIdx.map((i) => `&exclude=${i}`).join("");
    const picks = await lines(`${explored}/suggest?k=${k}&strategy=random${exclude}`);
    $("job-design").value = $("ex-design").value.trim();
    const id = await submit("label", null, picks, true);
    if (id) $("ex-audit").value = id;
  } catch (e) { setStatus("ex-progress-status", e.message, true); }
}

async function showProgress() {
  try {
    const d = encodeURIComponent($("ex-design").value.trim());
    const p = await call("GET", `/designs/${d}/progress?audit=${encodeURIComponent($("ex-audit").value.trim())}`);
    $("ex-progress-chart").innerHTML = progressChart(p);
    $("ex-progress-chart").removeAttribute("hidden");  // an SVG element has no .hidden property
    $("ex-progress-status").innerHTML = p.versions.map((v) =>
      `${esc(v.design)} v${v.version}: ${v.labels ?? "?"} labels, FOR ${(100 * v.for).toFixed(1)}%${v.live ? " (live)" : ""}`,
    ).join("; ") +
      `; random pruning ${(100 * p.random_pruning).toFixed(1)}%`;
  } catch (e) { setStatus("ex-progress-status", e.message, true); }
}

async function explore() {
  setStatus("ex-status", "");
  $("ex-result").hidden = true;
  try {
    const d = encodeURIComponent($("ex-design").value.trim());
    const req = { count: Number($("ex-count").value) };
    if ($("ex-rate").value.trim()) req.prune_rate = Number($("ex-rate").value);
    let j = await call("POST", `/designs/${d}/explore`, req);
    while (j.state !== "succeeded" && j.state !== "failed") {
      $("ex-status").innerHTML = `explore job <code>${esc(j.id.slice(0, 8))}</code>: <b>${esc(j.state)}</b>
        <progress max="1" value="${j.progress}"></progress>`;
      await new Promise((r) => setTimeout(r, 1000));
      j = await call("GET", `/jobs/${encodeURIComponent(j.id)}`);
    }
    if (j.state === "failed") throw new Error(j.error || "the explore job failed");
    const base = `/designs/${d}/explore/${encodeURIComponent(j.id)}`;
    const s = await call("GET", base);
    $("ex-hist").innerHTML = histogram(s.histogram);
    $("ex-counts").innerHTML = `${s.placements} placed and scored by <b>${esc(s.model.design)} v${s.model.version}</b>:
      <span class="good">${s.kept} kept</span>, <span class="bad">${s.pruned} pruned</span>
      (${s.rule === "rate" ? `the ${Math.round(100 * s.prune_rate)}% worst-scored` : `P(bad) &ge; ${s.threshold.toFixed(3)}`})`;
    const [best] = await lines(`${base}/placements?limit=1`);
    const [worst] = await lines(`${base}/placements?which=all&order=worst&limit=1`);
    await Promise.all([drawInto($("ex-best"), best), drawInto($("ex-worst"), worst)]);
    const k = Number($("ex-k").value), strategy = $("ex-strategy").value;
    const picks = await lines(`${base}/suggest?k=${k}&strategy=${encodeURIComponent(strategy)}&scored=true`);
    suggested = picks.map((p) => p.placement);
    suggestedIdx = picks.map((p) => p.index);
    explored = base;
    $("ex-suggest").tBodies[0].innerHTML = picks.map((p, i) => `<tr><td>${i + 1}</td><td>${p.index}</td>
      <td>${p.score.toFixed(3)}</td><td class="${p.prune ? "bad" : "good"}">${p.prune ? "pruned" : "kept"}</td></tr>`).join("");
    download($("ex-download"), suggested);
    download($("ex-kept"), await lines(`${base}/placements`));
    $("ex-result").hidden = false;
    setStatus("ex-status", `explore job ${j.id.slice(0, 8)} done; ${k} placements chosen by ${strategy}`);
  } catch (e) { setStatus("ex-status", e.message, true); }
}

$("explore").onclick = explore;
$("ex-audit-label").onclick = labelAudit;
$("ex-progress").onclick = showProgress;
$("ex-label").onclick = () => {
  if (!suggested) return;
  $("job-design").value = $("ex-design").value.trim();
  submit("label", null, suggested);
};
$("register").onclick = register;
$("label").onclick = () => submit("label");
$("finetune").onclick = () => submit("finetune");
$("watch").onclick = (ev) => { if (ev.target.id === "use-values") submit("finetune", lastValues); };
refresh();
setInterval(refresh, 3000);
