// optiscope playground: the page's state, its controls and its plots.
//
// One state object drives everything: every control writes into it and asks for a run; a run
// posts the state to /api/run (the older request is aborted: the latest one wins) and redraws
// the plots with Plotly.react. The contour is fetched only when the function changes.
"use strict";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
const MAX_CARDS = 6;
const SLIDER_STEPS = 1000; // positions of every hyperparameter slider
const MAX_STEPS = 5000;
const RUN_DELAY_MS = 5; // coalesces the input events of one slider drag
const SLOW_DELAY_MS = 400;
const MIN_LEVEL_SHARE = 0.004; // of the grid's points in each band between levels (80 x 80: 26)
const MARKED_STEPS = 150; // paths up to this many steps get a dot per step (SVG dots are slow) // the plain-words diagnosis and the theory wait for a pause
// Hyperparameters written into a spec even at their default (the settings a reader looks for).
const ALWAYS_SHOWN = ["lr", "momentum", "alpha", "beta1", "beta2", "rho", "eps"];

const DEFAULT_STATE = {
  function: "aniso",
  specs: ["momentum:lr=0.1,momentum=0.9", "rmsprop:lr=0.1,alpha=0.9,eps=1e-10"],
  start: [1, 1],
  steps: 50,
  noise: 0,
  batchSize: "full",
  seed: 0,
};

const catalogue = { functions: [], optimizers: [], schedules: [] };
const state = {
  function: DEFAULT_STATE.function,
  cards: [], // {optimizer, values: {hp: value}}
  start: null,
  steps: DEFAULT_STATE.steps,
  noise: 0,
  batchSize: "full",
  seed: 0,
  scrub: null, // the step shown by the scrubber (null: the last)
};
let contourData = null; // the last /api/contour answer
let lastRecord = null; // the last /api/run answer
let stateRecord = null; // {key, record}: the same run with the optimizer's state, fetched later
let runInFlight = false; // an /api/run is on its way (run)
let runStale = false; // the settings changed while it was
let runTimer = null;
let slowTimer = null;
let pendingInputAt = null; // performance.now() of the input that asked for the coming run
// Slider-move-to-redraw times (ms, input event to the next painted frame), the latest last,
// and the parts of the latest: fetch_ms (/api/run), contour_ms and loss_ms (Plotly.react),
// paths_ms (input to the new paths drawn). The browser test prints them.
window.optiscopeTimings = [];
window.optiscopeTimingParts = {};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- numbers and formats

/** `x` rounded to `digits` significant digits (0 stays 0). */
function roundSig(x, digits) {
  if (x === 0 || !Number.isFinite(x)) return x;
  return Number.parseFloat(x.toPrecision(digits));
}

/** A number as a spec value: the shortest text JavaScript gives for it. */
function specNumber(x) {
  return String(x);
}

/** A number for people: 4 significant digits, exponent form when very small or large. */
function show(x) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number") return String(x);
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e5) return roundSig(x, 3).toExponential().replace("e+", "e");
  return String(roundSig(x, 4));
}

// ---------------------------------------------------------------- sliders

/**
 * The slider of one hyperparameter: positions 0..SLIDER_STEPS mapped onto values.
 * "log": equal share per decade; "log1m": a log scale of 1 - x (momentum 0.9, 0.99, 0.999
 * equally spaced); "linear". A log slider whose hyperparameter defaults to 0 (weight decay)
 * keeps its leftmost position for 0 (off).
 */
function sliderScale(hp) {
  const [lo, hi] = hp.slider;
  const zeroAtLeft = hp.scale === "log" && hp.default === 0;
  const fromUnit = {
    log: (u) => roundSig(lo * (hi / lo) ** u, 2),
    log1m: (u) => 1 - roundSig((1 - lo) * ((1 - hi) / (1 - lo)) ** u, 2),
    linear: (u) => roundSig(lo + u * (hi - lo), 3),
  }[hp.scale || "linear"];
  const toUnit = {
    log: (v) => Math.log(v / lo) / Math.log(hi / lo),
    log1m: (v) => Math.log((1 - v) / (1 - lo)) / Math.log((1 - hi) / (1 - lo)),
    linear: (v) => (v - lo) / (hi - lo),
  }[hp.scale || "linear"];
  return {
    value(position) {
      if (zeroAtLeft && position === 0) return 0;
      return fromUnit(position / SLIDER_STEPS);
    },
    position(value) {
      if (zeroAtLeft && value <= 0) return 0;
      const u = toUnit(value);
      if (!Number.isFinite(u)) return 0;
      return Math.round(Math.min(1, Math.max(0, u)) * SLIDER_STEPS);
    },
  };
}

/** Steps slider: a log scale from 1 to MAX_STEPS, round numbers (2 significant digits). */
const stepsScale = {
  value: (p) => Math.min(MAX_STEPS, Math.max(1, Math.round(roundSig(MAX_STEPS ** (p / SLIDER_STEPS), 2)))),
  position: (n) => Math.round((Math.log(n) / Math.log(MAX_STEPS)) * SLIDER_STEPS),
};

function validRange(hp) {
  if (hp.kind === "bool") return "true or false";
  if (hp.choices && hp.choices.length) return hp.choices.join(" | ");
  const parts = [];
  if (hp.low !== null && hp.low !== undefined) parts.push(`${hp.low} ${hp.low_open ? "<" : "≤"}`);
  parts.push(hp.name);
  if (hp.high !== null && hp.high !== undefined) parts.push(`${hp.high_open ? "<" : "≤"} ${hp.high}`);
  return parts.length > 1 ? parts.join(" ") : "any value";
}

function tooltip(hp) {
  return `${hp.meaning}\nDefault: ${hp.default}\nValid: ${validRange(hp)}`;
}

// ---------------------------------------------------------------- specs

function optimizerInfo(name) {
  return catalogue.optimizers.find((o) => o.name === name);
}

/** Parse "name:k=v,..." into {optimizer, values}: numbers, booleans and choices typed. */
function parseSpec(spec) {
  const [name, rest] = spec.includes(":") ? [spec.slice(0, spec.indexOf(":")), spec.slice(spec.indexOf(":") + 1)] : [spec, ""];
  const info = optimizerInfo(name.trim());
  if (!info) return null;
  const values = defaultValues(info);
  const scheduleKeys = [];
  for (const item of rest.split(",")) {
    if (!item.includes("=")) continue;
    const [key, raw] = item.split("=").map((s) => s.trim());
    const hp = info.hyperparams.find((h) => h.name === key);
    if (hp) values[key] = typedValue(hp, raw);
    else if (key === "schedule") values.schedule = raw;
    else scheduleKeys.push(`${key}=${raw}`); // the schedule's own keys, kept as written
  }
  values.schedule_keys = scheduleKeys.join(",");
  return { optimizer: info.name, values };
}

function typedValue(hp, raw) {
  if (hp.kind === "bool") return raw === "true" || raw === "1";
  if (hp.kind === "float" || hp.kind === "int") {
    const x = Number(raw);
    return Number.isFinite(x) ? x : hp.default;
  }
  return raw;
}

function defaultValues(info) {
  const values = {};
  for (const hp of info.hyperparams) values[hp.name] = hp.default;
  return values;
}

/** The card as a spec: a value is written when it differs from its default, or is one a
 * reader looks for (lr, momentum, ...) and is not a zero default. */
function cardSpec(card) {
  const info = optimizerInfo(card.optimizer);
  const parts = [];
  for (const hp of info.hyperparams) {
    const v = card.values[hp.name];
    const shown = ALWAYS_SHOWN.includes(hp.name) && hp.default !== 0 && hp.default !== false;
    if (v === hp.default && !shown && !(hp.name === "lr")) continue;
    parts.push(`${hp.name}=${typeof v === "number" ? specNumber(v) : String(v)}`);
  }
  const schedule = card.values.schedule;
  if (schedule && schedule !== "constant") {
    parts.push(`schedule=${schedule}`);
    const keys = (card.values.schedule_keys || "").trim();
    if (keys) parts.push(keys);
  }
  return parts.length ? `${card.optimizer}:${parts.join(",")}` : card.optimizer;
}

// ---------------------------------------------------------------- API

async function api(path, body, signal) {
  const init = body === undefined ? { signal } : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  };
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    throw new Error(`${path}: the server answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    const message = (data && (data.error || (data.detail && JSON.stringify(data.detail)))) || `status ${response.status}`;
    const error = new Error(message);
    error.fromServer = true;
    throw error;
  }
  return data;
}

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

// ---------------------------------------------------------------- controls

function fillFunctionPicker() {
  const select = $("function");
  select.innerHTML = "";
  for (const f of catalogue.functions) {
    const option = document.createElement("option");
    option.value = f.name;
    option.textContent = f.name;
    option.title = f.formula;
    select.appendChild(option);
  }
  const typed = document.createElement("option");
  typed.value = "__formula__";
  typed.textContent = "(typed formula)";
  typed.disabled = true;
  select.appendChild(typed);
}

function functionInfo(name) {
  return catalogue.functions.find((f) => f.name === name);
}

/** Split a function spec into a catalogue entry and its parameters, or null for a formula. */
function parseFunction(spec) {
  const colon = spec.indexOf(":");
  const name = (colon >= 0 ? spec.slice(0, colon) : spec).trim();
  const info = functionInfo(name);
  if (!info) return null;
  const params = {};
  for (const p of info.params) params[p.name] = p.default;
  if (colon >= 0) {
    for (const item of spec.slice(colon + 1).split(",")) {
      const [k, v] = item.split("=").map((s) => s.trim());
      if (k in params && Number.isFinite(Number(v))) params[k] = Number(v);
    }
  }
  return { info, params };
}

/** Show the function picker, its parameters and the formula box for state.function. */
function showFunctionControls() {
  const parsed = parseFunction(state.function);
  const box = $("function-params");
  box.innerHTML = "";
  if (!parsed) {
    $("function").value = "__formula__";
    $("formula").value = state.function;
    $("function-formula").textContent = "";
    return;
  }
  $("function").value = parsed.info.name;
  $("function-formula").textContent = `f = ${parsed.info.formula}`;
  for (const p of parsed.info.params) {
    const label = document.createElement("label");
    label.title = `${p.meaning}\nDefault: ${p.default}` + (p.low !== null && p.low !== undefined ? `\nValid: ${p.low} to ${p.high}` : "");
    label.textContent = p.name;
    const meaning = document.createElement("span");
    meaning.className = "hint param-meaning";
    meaning.textContent = ` ${p.meaning}`;
    label.appendChild(meaning);
    const input = document.createElement("input");
    input.type = "number";
    input.step = "any";
    input.value = parsed.params[p.name];
    input.dataset.param = p.name;
    input.addEventListener("change", () => {
      const values = {};
      for (const el of box.querySelectorAll("input[data-param]")) values[el.dataset.param] = el.value;
      const changed = parsed.info.params.filter((q) => Number(values[q.name]) !== q.default);
      const spec = changed.length ? `${parsed.info.name}:${changed.map((q) => `${q.name}=${values[q.name]}`).join(",")}` : parsed.info.name;
      setFunction(spec, true);
    });
    label.appendChild(input);
    box.appendChild(label);
  }
}

function fillOptimizerPicker() {
  const select = $("add-optimizer");
  select.innerHTML = "";
  for (const o of catalogue.optimizers) {
    const option = document.createElement("option");
    option.value = o.name;
    option.textContent = `${o.name}: ${o.summary}`;
    select.appendChild(option);
  }
  select.value = optimizerInfo("adam") ? "adam" : catalogue.optimizers[0].name;
}

function renderCards() {
  const box = $("cards");
  box.innerHTML = "";
  state.cards.forEach((card, index) => box.appendChild(cardElement(card, index)));
  $("add-card").disabled = state.cards.length >= MAX_CARDS;
  $("add-card").title = state.cards.length >= MAX_CARDS ? `At most ${MAX_CARDS} optimizers` : "Add an optimizer card";
}

function cardElement(card, index) {
  const info = optimizerInfo(card.optimizer);
  const el = document.createElement("div");
  el.className = "card";
  el.dataset.optimizer = card.optimizer;
  el.style.setProperty("--card-colour", COLOURS[index % COLOURS.length]);

  const head = document.createElement("div");
  head.className = "card-head";
  const picker = document.createElement("select");
  picker.setAttribute("aria-label", "Optimizer");
  for (const o of catalogue.optimizers) {
    const option = document.createElement("option");
    option.value = o.name;
    option.textContent = o.name;
    picker.appendChild(option);
  }
  picker.value = card.optimizer;
  picker.addEventListener("change", () => {
    state.cards[index] = { optimizer: picker.value, values: defaultValues(optimizerInfo(picker.value)) };
    renderCards();
    requestRun();
  });
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.textContent = "×";
  remove.title = "Remove this optimizer";
  remove.disabled = state.cards.length <= 1;
  remove.addEventListener("click", () => {
    state.cards.splice(index, 1);
    renderCards();
    requestRun();
  });
  head.append(picker, remove);
  el.appendChild(head);

  const summary = document.createElement("p");
  summary.className = "summary";
  summary.textContent = info.summary;
  el.appendChild(summary);

  const main = [];
  const more = [];
  for (const hp of info.hyperparams) {
    const control = hyperparamControl(card, hp);
    if (!control) continue;
    (ALWAYS_SHOWN.includes(hp.name) ? main : more).push(control);
  }
  main.forEach((c) => el.appendChild(c));
  const details = document.createElement("details");
  const detailsSummary = document.createElement("summary");
  detailsSummary.textContent = "More settings";
  details.appendChild(detailsSummary);
  more.forEach((c) => details.appendChild(c));
  details.appendChild(scheduleControl(card));
  el.appendChild(details);
  return el;
}

/** One hyperparameter's control: a range slider (continuous), a checkbox or a menu. */
function hyperparamControl(card, hp) {
  const label = document.createElement("label");
  label.title = tooltip(hp);
  const name = document.createElement("span");
  name.textContent = hp.name;
  label.appendChild(name);
  const value = card.values[hp.name];

  if (hp.kind === "bool") {
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = Boolean(value);
    box.dataset.hp = hp.name;
    box.addEventListener("change", (event) => {
      card.values[hp.name] = box.checked;
      requestRun(event.timeStamp);
    });
    label.prepend(box);
    return label;
  }
  if (hp.choices && hp.choices.length && hp.scale !== "log" && hp.scale !== "log1m") {
    const select = document.createElement("select");
    select.dataset.hp = hp.name;
    for (const c of hp.choices) {
      const option = document.createElement("option");
      option.value = String(c);
      option.textContent = String(c);
      select.appendChild(option);
    }
    select.value = String(value);
    select.addEventListener("change", (event) => {
      card.values[hp.name] = typedValue(hp, select.value);
      requestRun(event.timeStamp);
    });
    label.appendChild(select);
    return label;
  }
  const shown = document.createElement("span");
  shown.className = "value";
  shown.dataset.value = hp.name;
  shown.textContent = show(value);
  label.appendChild(shown);

  if (!hp.slider || (hp.kind !== "float" && hp.kind !== "int")) {
    const input = document.createElement("input");
    input.type = "number";
    input.step = "any";
    input.value = value;
    input.dataset.hp = hp.name;
    input.addEventListener("change", (event) => {
      const x = Number(input.value);
      if (!Number.isFinite(x)) return;
      card.values[hp.name] = hp.kind === "int" ? Math.round(x) : x;
      shown.textContent = show(card.values[hp.name]);
      requestRun(event.timeStamp);
    });
    label.appendChild(input);
    return label;
  }
  const scale = sliderScale(hp);
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = String(SLIDER_STEPS);
  slider.step = "1";
  slider.value = String(scale.position(value));
  slider.dataset.hp = hp.name;
  slider.dataset.scale = hp.scale || "linear";
  slider.addEventListener("input", (event) => {
    let x = scale.value(Number(slider.value));
    if (hp.kind === "int") x = Math.round(x);
    card.values[hp.name] = x;
    shown.textContent = show(x);
    requestRun(event.timeStamp);
  });
  label.appendChild(slider);
  return label;
}

function scheduleControl(card) {
  const wrap = document.createElement("div");
  const label = document.createElement("label");
  label.textContent = "Learning-rate schedule";
  label.title = "How lr changes over the steps (lr is the first step's rate).";
  const select = document.createElement("select");
  select.dataset.hp = "schedule";
  const names = catalogue.schedules.map((s) => (typeof s === "string" ? s : s.name));
  for (const n of names.length ? names : ["constant"]) {
    const option = document.createElement("option");
    option.value = n;
    option.textContent = n;
    select.appendChild(option);
  }
  select.value = card.values.schedule || "constant";
  const keys = document.createElement("input");
  keys.type = "text";
  keys.placeholder = "its settings, e.g. step_size=20,gamma=0.5";
  keys.value = card.values.schedule_keys || "";
  keys.dataset.hp = "schedule_keys";
  select.addEventListener("change", () => {
    card.values.schedule = select.value;
    const entry = catalogue.schedules.find((s) => typeof s !== "string" && s.name === select.value);
    const example = entry && (entry.example || "");
    keys.value = example.replace(/^schedule=[^,]*,?/, "");
    card.values.schedule_keys = keys.value;
    requestRun();
  });
  keys.addEventListener("change", () => {
    card.values.schedule_keys = keys.value;
    requestRun();
  });
  label.appendChild(select);
  wrap.append(label, keys);
  return wrap;
}

function showRunControls() {
  $("steps").value = String(stepsScale.position(state.steps));
  $("steps-value").textContent = String(state.steps);
  $("noise").value = String(state.noise);
  $("batch-size").value = String(state.batchSize);
  $("seed").value = String(state.seed);
  $("start-text").textContent = state.start ? `(${show(state.start[0])}, ${show(state.start[1])})` : "(the function's own)";
}

function wireControls() {
  $("function").addEventListener("change", () => {
    if ($("function").value !== "__formula__") setFunction($("function").value, true);
  });
  const applyFormula = () => {
    const text = $("formula").value.trim();
    if (text) setFunction(text, true);
  };
  $("formula-apply").addEventListener("click", applyFormula);
  $("formula").addEventListener("keydown", (event) => {
    if (event.key === "Enter") applyFormula();
  });
  $("steps").addEventListener("input", (event) => {
    state.steps = stepsScale.value(Number($("steps").value));
    $("steps-value").textContent = String(state.steps);
    state.scrub = null;
    requestRun(event.timeStamp);
  });
  $("noise").addEventListener("change", () => {
    const x = Number($("noise").value);
    state.noise = Number.isFinite(x) && x >= 0 ? x : 0;
    requestRun();
  });
  $("batch-size").addEventListener("change", () => {
    const text = $("batch-size").value.trim();
    state.batchSize = text === "" || text === "full" ? "full" : text;
    requestRun();
  });
  $("seed").addEventListener("change", () => {
    const x = Number($("seed").value);
    state.seed = Number.isInteger(x) && x >= 0 ? x : 0;
    requestRun();
  });
  $("add-card").addEventListener("click", () => {
    if (state.cards.length >= MAX_CARDS) return;
    const info = optimizerInfo($("add-optimizer").value);
    const values = defaultValues(info);
    state.cards.push({ optimizer: info.name, values });
    renderCards();
    requestRun();
  });
  $("scrubber").addEventListener("input", () => {
    state.scrub = Number($("scrubber").value);
    showScrub();
  });
  $("export-png").addEventListener("click", () => {
    Plotly.downloadImage($("contour"), { format: "png", filename: "optiscope_playground", width: 900, height: 800 });
  });
}

// ---------------------------------------------------------------- function and contour

/** Switch to a catalogue function spec or a typed formula: fetch its contour, then run. */
async function setFunction(spec, resetStart) {
  setStatus("drawing the function", "busy");
  $("formula-error").textContent = "";
  let data;
  try {
    data = await api("/api/contour", { function: spec, bounds: null, n: 80 });
  } catch (error) {
    if (!parseFunction(spec)) $("formula-error").textContent = error.message;
    else $("formula-error").textContent = `${spec}: ${error.message}`;
    setStatus("error", "failed");
    return false;
  }
  state.function = spec;
  contourData = await prepareContour(data);
  if (resetStart) state.start = null;
  state.scrub = null;
  showFunctionControls();
  showRunControls();
  requestRun();
  return true;
}

/**
 * The contour as drawn: a picture of the filled level lines (made once per function, see
 * contourPicture) under the paths, and an invisible heatmap of f on the same grid that
 * answers hovers (the value of f) and clicks (set the start). Redrawing Plotly's contour on
 * every slider move costs about 100 ms; the picture makes a redraw only the paths.
 */
async function prepareContour(data) {
  const hover = {
    type: "heatmap",
    x: data.x,
    y: data.y,
    z: data.z.map((row) => row.map(finite)),
    opacity: 0,
    showscale: false,
    hoverongaps: false,
    hovertemplate: "w1 %{x:.3g}, w2 %{y:.3g}<br>f = %{z:.4g}<extra></extra>",
    name: "f",
    meta: "f",
  };
  const stars = {
    type: "scatter",
    mode: "markers",
    x: (data.minimizers || []).map((m) => m[0]),
    y: (data.minimizers || []).map((m) => m[1]),
    marker: { symbol: "star", size: 14, color: "#f2b705", line: { color: "#5c4700", width: 1 } },
    name: "minimizer",
    showlegend: false,
    hovertemplate: "minimizer (%{x:.4g}, %{y:.4g})<extra></extra>",
  };
  const picture = await contourPicture(data);
  return { raw: data, hover, stars, picture };
}

/**
 * Plotly draws evenly spaced contour levels only: the API's log-spaced levels are drawn by
 * mapping f piecewise-linearly onto level indices (level k -> k) and drawing levels 0, 1, ....
 */
function levelIndexTrace(data) {
  const levels = resolvedLevels(data);
  const n = levels.length;
  const toIndex = (z) => {
    if (finite(z) === null) return null;
    if (n < 2) return z;
    if (z <= levels[0]) return Math.max(-1, (z - levels[0]) / (levels[1] - levels[0]));
    if (z >= levels[n - 1]) return Math.min(n, n - 1 + (z - levels[n - 1]) / (levels[n - 1] - levels[n - 2]));
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (levels[mid] <= z) lo = mid;
      else hi = mid;
    }
    return lo + (z - levels[lo]) / (levels[hi] - levels[lo]);
  };
  return {
    type: "contour",
    x: data.x,
    y: data.y,
    z: data.z.map((row) => row.map(toIndex)),
    contours: n >= 2 ? { start: 0, end: n - 1, size: 1, coloring: "fill" } : { coloring: "fill" },
    colorscale: [[0, "#b4c5d6"], [0.5, "#dde6ee"], [1, "#fcfdfe"]],
    line: { color: "#6f7f90", width: 0.9 },
    showscale: false,
    hoverinfo: "skip",
  };
}

/** The API's levels that the grid can draw: each band between two drawn levels (and the
 * region inside the first) holds at least MIN_LEVEL_SHARE of the grid's points. Levels
 * closer together than the grid's cells would crowd into a blocky blot (near a minimum, or
 * along f = 0 where the levels are log-spaced in |f| on both sides). */
function resolvedLevels(data) {
  const values = data.z.flat().filter((z) => finite(z) !== null).sort((a, b) => a - b);
  const below = (level) => {
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= level) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const least = Math.max(4, MIN_LEVEL_SHARE * values.length);
  const kept = [];
  let enclosed = 0;
  for (const v of (data.levels || []).filter(Number.isFinite)) {
    const count = below(v);
    if (count - enclosed < least) continue;
    kept.push(v);
    enclosed = count;
  }
  return kept;
}

/** The filled contour of the grid as a PNG data URL, exactly the grid's box, no axes. */
async function contourPicture(data) {
  const x0 = data.x[0];
  const x1 = data.x[data.x.length - 1];
  const y0 = data.y[0];
  const y1 = data.y[data.y.length - 1];
  const width = 900;
  const height = Math.round(Math.min(1800, Math.max(300, (width * (y1 - y0)) / (x1 - x0))));
  const div = document.createElement("div");
  div.style.cssText = `position:absolute; left:-${width + 100}px; top:0; width:${width}px; height:${height}px;`;
  document.body.appendChild(div);
  try {
    await Plotly.newPlot(div, [levelIndexTrace(data)], {
      width,
      height,
      margin: { l: 0, r: 0, t: 0, b: 0, pad: 0 },
      xaxis: { range: [x0, x1], visible: false },
      yaxis: { range: [y0, y1], visible: false },
      showlegend: false,
    }, { staticPlot: true });
    const source = await Plotly.toImage(div, { format: "png", width, height });
    return { source, x: [x0, x1], y: [y0, y1] };
  } finally {
    Plotly.purge(div);
    div.remove();
  }
}

// ---------------------------------------------------------------- runs

/** Ask for a run soon; `inputAt` is the event time of the input that asked (for timings). */
function requestRun(inputAt) {
  pendingInputAt = typeof inputAt === "number" ? inputAt : performance.now();
  setStatus("running", "busy");
  clearTimeout(runTimer);
  runTimer = setTimeout(run, RUN_DELAY_MS);
}

function runBody(withState) {
  return {
    function: state.function,
    specs: state.cards.map(cardSpec),
    steps: state.steps,
    start: state.start,
    noise: state.noise,
    batch_size: state.batchSize,
    seed: state.seed,
    tol: 1e-6,
    state: withState,
  };
}

/**
 * One /api/run at a time. A server cannot stop a computation whose client went away, so
 * aborting the older fetch on every input event of a drag would queue dozens of runs there;
 * instead an input that arrives while a run is in flight marks the picture stale, the answer
 * that comes back is drawn as an in-between frame (the drag stays live), and the newest
 * settings are sent at once. Only an answer for the current settings is "ready".
 */
async function run() {
  if (runInFlight) {
    runStale = true;
    return;
  }
  runInFlight = true;
  runStale = false;
  const inputAt = pendingInputAt;
  const body = runBody(false);
  const fetchStart = performance.now();
  let record = null;
  let failure = null;
  try {
    record = await api("/api/run", body);
  } catch (error) {
    failure = error;
  }
  const fetchMs = performance.now() - fetchStart;
  runInFlight = false;
  if (runStale) {
    if (record && body.function === state.function) await showRecord(record, body);
    run();
    return;
  }
  if (failure) {
    showRunError(failure.message);
    setStatus("error", "failed");
    return;
  }
  await showRecord(record, body);
  await nextFrame(); // end to end: until the browser has painted the new picture
  const parts = window.optiscopeTimingParts;
  window.optiscopeTimings.push(performance.now() - inputAt);
  if (window.optiscopeTimings.length > 100) window.optiscopeTimings.shift();
  parts.fetch_ms = fetchMs;
  parts.paths_ms = parts.paths_at - inputAt; // input to the new paths drawn (before paint)
  delete parts.paths_at;
  setStatus("ready", "");
  updateShareLink();
  scheduleSlowPanels();
}

/** Resolves once the browser has rendered the next frame (after the current task). */
function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

async function showRecord(record, body) {
  if (!state.start && record.start) state.start = record.start;
  lastRecord = record;
  // the key of the run with the state that belongs to this picture (scheduleSlowPanels)
  lastRecord.requestKey = JSON.stringify({ ...body, start: body.start || record.start });
  showRunError("");
  await redraw(record);
}

function showRunError(message) {
  let box = $("run-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "run-error";
    box.className = "error";
    $("plots").prepend(box);
  }
  box.textContent = message;
}

async function redraw(record) {
  showRunControls();
  $("scrubber").max = String(record.steps);
  if (state.scrub === null || state.scrub > record.steps) $("scrubber").value = String(record.steps);
  const drawStart = performance.now();
  await drawContour(record); // the paths first: they are what a slider move is watched for
  const pathsAt = performance.now();
  await drawLoss(record);
  window.optiscopeTimingParts = {
    paths_at: pathsAt,
    contour_ms: pathsAt - drawStart,
    loss_ms: performance.now() - pathsAt,
  };
  showLegend(record);
  showMetrics(record);
  showInternals(); // the markers were drawn at the chosen step already
  $("command").textContent = record.command || "";
}

function runName(run) {
  return run.settings ? `${run.optimizer} (${run.settings})` : run.spec;
}

function scrubStep(record) {
  return state.scrub === null ? record.steps : Math.min(state.scrub, record.steps);
}

/** The point of a path at step k (the last point if the run stopped earlier). */
function finite(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function pointAt(path, k) {
  if (!path || !path.length) return [null, null];
  const p = path[Math.min(k, path.length - 1)];
  return [finite(p[0]), finite(p[1])];
}

function drawContour(record) {
  const traces = contourData ? [contourData.hover] : [];
  const k = scrubStep(record);
  record.runs.forEach((run, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const path = run.path || [];
    traces.push({
      type: "scatter",
      // a marker per step shows the step sizes; past MARKED_STEPS they cost more than they show
      mode: path.length <= MARKED_STEPS + 1 ? "lines+markers" : "lines",
      x: path.map((p) => finite(p[0])),
      y: path.map((p) => finite(p[1])),
      line: { color: colour, width: 1.6 },
      marker: { color: colour, size: 3.5 },
      name: runName(run),
      meta: "path",
      hovertemplate: `${run.optimizer} step %{pointNumber}<br>(%{x:.4g}, %{y:.4g})<extra></extra>`,
    });
  });
  record.runs.forEach((run, i) => {
    const end = pointAt(run.path, run.path ? run.path.length - 1 : 0);
    traces.push({
      type: "scatter",
      mode: "markers",
      x: [end[0]],
      y: [end[1]],
      marker: { symbol: "x", size: 10, color: COLOURS[i % COLOURS.length], line: { width: 1 } },
      name: `${run.optimizer} end`,
      showlegend: false,
      hovertemplate: `${run.optimizer} end (%{x:.4g}, %{y:.4g})<extra></extra>`,
    });
  });
  record.runs.forEach((run, i) => {
    const p = pointAt(run.path, k);
    traces.push({
      type: "scatter",
      mode: "markers",
      x: [p[0]],
      y: [p[1]],
      marker: { size: 12, color: "rgba(255,255,255,0.6)", line: { color: COLOURS[i % COLOURS.length], width: 2.5 } },
      name: `${run.optimizer} at step ${k}`,
      meta: "scrub",
      showlegend: false,
      hovertemplate: `${run.optimizer} at the chosen step<extra></extra>`,
    });
  });
  if (contourData) traces.push(contourData.stars); // on top of the paths that end there
  const start = record.start || state.start;
  traces.push({
    type: "scatter",
    mode: "markers",
    x: [start[0]],
    y: [start[1]],
    marker: { symbol: "circle", size: 10, color: "#1f2328" },
    name: "start",
    showlegend: false,
    hovertemplate: "start (%{x:.4g}, %{y:.4g})<extra></extra>",
  });
  const bounds = contourData ? contourData.picture : null;
  const layout = {
    margin: { l: 48, r: 8, t: 8, b: 40 },
    xaxis: { title: { text: "w1" }, range: bounds ? bounds.x : undefined, zeroline: false, constrain: "domain" },
    yaxis: { title: { text: "w2" }, range: bounds ? bounds.y : undefined, scaleanchor: "x", scaleratio: 1, zeroline: false, constrain: "domain" },
    showlegend: false, // the colours are named above the plots (#legend)
    hovermode: "closest",
    uirevision: state.function, // zoom survives reruns of the same function
    plot_bgcolor: "#ffffff",
    images: contourData ? [{
      source: contourData.picture.source,
      xref: "x",
      yref: "y",
      x: contourData.picture.x[0],
      y: contourData.picture.y[1],
      sizex: contourData.picture.x[1] - contourData.picture.x[0],
      sizey: contourData.picture.y[1] - contourData.picture.y[0],
      xanchor: "left",
      yanchor: "top",
      sizing: "stretch",
      layer: "below",
    }] : [],
  };
  const gd = $("contour");
  return Plotly.react(gd, traces, layout, { displaylogo: false, responsive: true }).then(() => {
    if (!gd.dataset.clickWired) {
      gd.dataset.clickWired = "yes";
      wireContourClick();
    }
  });
}

/** The loss gap per step: f - f_min on a log axis where f_min is known, f itself otherwise. */
function drawLoss(record) {
  const fMin = record.f_min;
  const gapKnown = fMin !== null && fMin !== undefined;
  const traces = record.runs.map((run, i) => {
    const losses = run.losses || [];
    return {
      type: "scatter",
      mode: "lines",
      x: losses.map((_, t) => t),
      y: losses.map((v) => (finite(v) === null ? null : gapKnown ? Math.max(v - fMin, 1e-300) : v)),
      line: { color: COLOURS[i % COLOURS.length], width: 1.8 },
      name: runName(run),
      hovertemplate: `${run.optimizer} step %{x}: %{y:.3e}<extra></extra>`,
    };
  });
  const k = scrubStep(record);
  const layout = {
    margin: { l: 60, r: 10, t: 10, b: 40 },
    xaxis: { title: { text: "step" }, zeroline: false },
    yaxis: { title: { text: gapKnown ? "loss − minimum" : "loss" }, type: gapKnown ? "log" : "linear", exponentformat: "power" },
    showlegend: false,
    hovermode: "closest",
    shapes: [{ type: "line", xref: "x", yref: "paper", x0: k, x1: k, y0: 0, y1: 1, line: { color: "#8d99a6", width: 1, dash: "dot" } }],
    plot_bgcolor: "#ffffff",
  };
  return Plotly.react($("loss"), traces, layout, { displaylogo: false, responsive: true });
}

/** One coloured name per run above the plots: the plots' legend. */
function showLegend(record) {
  const box = $("legend");
  box.innerHTML = "";
  record.runs.forEach((run, i) => {
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[i % COLOURS.length];
    item.append(swatch, document.createTextNode(runName(run)));
    box.appendChild(item);
  });
}

function showMetrics(record) {
  const body = $("metrics").querySelector("tbody");
  body.innerHTML = "";
  record.runs.forEach((run, i) => {
    const m = run.metrics || {};
    const row = document.createElement("tr");
    const cells = [
      null,
      m.steps_to_tol === null || m.steps_to_tol === undefined ? "not reached" : String(m.steps_to_tol),
      show(m.gap_final),
      show(m.zigzag),
      m.rate === null || m.rate === undefined ? (m.rate_note ? `– (${m.rate_note})` : "–") : show(m.rate),
      run.diverged_at === null || run.diverged_at === undefined ? "none" : `at step ${run.diverged_at}`,
    ];
    const first = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[i % COLOURS.length];
    first.append(swatch, document.createTextNode(runName(run)));
    row.appendChild(first);
    for (const text of cells.slice(1)) {
      const td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
    }
    body.appendChild(row);
  });
}

// ---------------------------------------------------------------- scrubber

/** Move the marker of every path to the chosen step and show the internals there. */
function showScrub() {
  if (!lastRecord) return;
  moveScrubMarkers(scrubStep(lastRecord));
  showInternals();
}

function moveScrubMarkers(k) {
  const gd = $("contour");
  if (gd.data) {
    const indices = [];
    const xs = [];
    const ys = [];
    gd.data.forEach((trace, i) => {
      if (trace.meta !== "scrub") return;
      const run = lastRecord.runs[indices.length];
      const p = pointAt(run.path, k);
      indices.push(i);
      xs.push([p[0]]);
      ys.push([p[1]]);
    });
    if (indices.length) Plotly.restyle(gd, { x: xs, y: ys }, indices);
  }
  const lossDiv = $("loss");
  if (lossDiv.layout) Plotly.relayout(lossDiv, { "shapes[0].x0": k, "shapes[0].x1": k });
}

/** The step label and the optimizer's internals at the chosen step (its state once the run
 * with the state has come back, positions and losses until then). */
function showInternals() {
  if (!lastRecord) return;
  const k = scrubStep(lastRecord);
  $("scrub-value").textContent = `${k} of ${lastRecord.steps}`;
  $("internals").innerHTML = "";
  const ready = stateRecord && stateRecord.key === lastRecord.requestKey;
  $("internals").appendChild(internalsTable(ready ? stateRecord.record : lastRecord, k));
  if (!ready) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = "The optimizer's internals (velocity, averages, effective step) follow in a moment.";
    $("internals").appendChild(note);
  }
}

function pair(v) {
  if (!v) return "–";
  if (Array.isArray(v)) return `(${v.map(show).join(", ")})`;
  return show(v);
}

function internalsTable(record, k) {
  const fields = new Set();
  for (const run of record.runs) for (const f of Object.keys(run.state || {})) fields.add(f);
  const table = document.createElement("table");
  const head = document.createElement("tr");
  const meanings = {
    "position (w1, w2)": "Where the run is after this step",
    "effective step |Δw|/|g|": "The step this run takes next, per coordinate, divided by the gradient: the learning rate it effectively uses",
  };
  for (const o of catalogue.optimizers) Object.assign(meanings, o.state || {});
  const effective = record.runs.some((run) => run.effective_step);
  const columns = ["At this step", "position (w1, w2)", "loss", ...fields];
  if (effective) columns.push("effective step |Δw|/|g|");
  for (const h of columns) {
    const th = document.createElement("th");
    th.textContent = h;
    if (meanings[h]) th.title = meanings[h];
    head.appendChild(th);
  }
  table.appendChild(head);
  record.runs.forEach((run, i) => {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[i % COLOURS.length];
    name.append(swatch, document.createTextNode(run.optimizer));
    row.appendChild(name);
    const at = (list) => (list && list.length ? list[Math.min(k, list.length - 1)] : null);
    const cells = [pair(pointAt(run.path, k)), show(at(run.losses))];
    for (const f of fields) cells.push(pair(at((run.state || {})[f])));
    if (effective) cells.push(pair(at(run.effective_step)));
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
    }
    table.appendChild(row);
  });
  return table;
}

// ---------------------------------------------------------------- slow panels

function scheduleSlowPanels() {
  clearTimeout(slowTimer);
  slowTimer = setTimeout(refreshSlowPanels, SLOW_DELAY_MS);
}

let slowController = null;
async function refreshSlowPanels() {
  if (slowController) slowController.abort();
  const controller = new AbortController();
  slowController = controller;
  const body = runBody(false);
  const explainBody = {
    function: body.function, specs: body.specs, steps: body.steps, start: body.start,
    noise: body.noise, batch_size: body.batch_size, seed: body.seed,
  };
  const theoryBody = { function: body.function, specs: body.specs, start: body.start };
  const key = JSON.stringify(body);
  const [withState, explained, theory] = await Promise.allSettled([
    api("/api/run", runBody(true), controller.signal),
    api("/api/explain", explainBody, controller.signal),
    api("/api/theory", theoryBody, controller.signal),
  ]);
  if (slowController !== controller) return;
  if (withState.status === "fulfilled") stateRecord = { key, record: withState.value };
  showInternals();
  showExplain(explained);
  showTheory(theory);
}

function showExplain(result) {
  const box = $("explain");
  box.innerHTML = "";
  if (result.status !== "fulfilled") {
    if (result.reason.name !== "AbortError") box.textContent = `No diagnosis: ${result.reason.message}`;
    return;
  }
  const record = result.value;
  if (record.minimum_note) {
    const p = document.createElement("p");
    p.textContent = record.minimum_note;
    box.appendChild(p);
  }
  (record.runs || []).forEach((run, i) => {
    const h = document.createElement("h3");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[i % COLOURS.length];
    h.append(swatch, document.createTextNode(runName(run)));
    box.appendChild(h);
    const lines = Array.isArray(run.text) ? run.text : [run.text];
    for (const line of lines) {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    }
  });
  if (record.best) {
    const p = document.createElement("p");
    p.textContent = typeof record.best === "string" ? record.best : record.best.text || "";
    if (p.textContent) box.appendChild(p);
  }
}

/** The settings the theory calls optimal for a card, or null where it gives none. */
function optimalFor(card, theory) {
  const values = card.values;
  if (card.optimizer === "sgd" && !values.momentum && theory.gd && theory.gd.optimal_lr) {
    return { lr: theory.gd.optimal_lr };
  }
  const method = card.optimizer === "nesterov" || (card.optimizer === "sgd" && values.nesterov) ? "nesterov" : "momentum";
  const usesMomentum = card.optimizer === "momentum" || card.optimizer === "nesterov" || (card.optimizer === "sgd" && values.momentum > 0);
  const best = theory[method];
  if (usesMomentum && best && best.optimal_lr) return { lr: best.optimal_lr, momentum: best.optimal_momentum };
  return null;
}

function showTheory(result) {
  const box = $("theory");
  box.innerHTML = "";
  if (result.status !== "fulfilled") {
    if (result.reason.name !== "AbortError") box.textContent = `No theory here: ${result.reason.message}`;
    return;
  }
  const t = result.value;
  if (!t.quadratic) {
    box.textContent = "The theory panel covers quadratic functions (a bowl such as aniso or booth); this one is not quadratic: see the plain-words diagnosis above for what the local theory says.";
    return;
  }
  const p = document.createElement("p");
  p.textContent = `Curvatures ${t.eigenvalues.map(show).join(" and ")}: condition number κ = ${show(t.kappa)}. ` +
    (t.gd ? `Gradient descent is stable for lr < ${show(t.gd.stable_lr_max)}, best at lr = ${show(t.gd.optimal_lr)} (rate ${show(t.gd.rate)} per step). ` : "") +
    (t.momentum ? `Heavy ball is best at lr = ${show(t.momentum.optimal_lr)}, momentum = ${show(t.momentum.optimal_momentum)} (rate ${show(t.momentum.rate)}).` : "");
  box.appendChild(p);
  (t.runs || []).forEach((run, i) => {
    const q = document.createElement("p");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[i % COLOURS.length];
    const words = run.predicted_rate === null || run.predicted_rate === undefined
      ? (run.reason || "no linear rate")
      : `predicted rate ${show(run.predicted_rate)} per step, ${run.stable ? "stable" : "unstable"} (stable for lr < ${show(run.stable_lr_max)})` +
        (run.predicted_steps_to_tol ? `, about ${run.predicted_steps_to_tol} steps to the tolerance` : "");
    q.append(swatch, document.createTextNode(`${run.spec}: ${words}`));
    box.appendChild(q);
  });
  const applicable = state.cards.some((card) => optimalFor(card, t));
  const button = document.createElement("button");
  button.type = "button";
  button.id = "use-optimal";
  button.textContent = "Use the optimal settings";
  button.disabled = !applicable;
  button.title = applicable ? "Set lr (and momentum) of gradient descent and momentum cards to the theory's best" : "No card here has optimal settings in the theory (gradient descent and momentum do)";
  button.addEventListener("click", () => {
    for (const card of state.cards) {
      const best = optimalFor(card, t);
      if (!best) continue;
      for (const [k, v] of Object.entries(best)) card.values[k] = roundSig(v, 4);
    }
    renderCards();
    requestRun();
  });
  box.appendChild(button);
}

// ---------------------------------------------------------------- the state in the URL

function stateQuery() {
  const q = new URLSearchParams();
  q.set("f", state.function);
  for (const card of state.cards) q.append("s", cardSpec(card));
  if (state.start) q.set("start", `${state.start[0]},${state.start[1]}`);
  q.set("n", String(state.steps));
  if (state.noise) q.set("noise", String(state.noise));
  if (state.batchSize !== "full") q.set("bs", String(state.batchSize));
  if (state.seed) q.set("seed", String(state.seed));
  return q.toString();
}

let writtenHash = null; // the hash this page wrote last (a different one was pasted in)

function updateShareLink() {
  const hash = `#${stateQuery()}`;
  writtenHash = hash;
  history.replaceState(null, "", hash);
  const link = $("share");
  link.href = `${location.origin}${location.pathname}${hash}`;
  link.textContent = link.href.length > 90 ? `${link.href.slice(0, 87)}…` : link.href;
}

/** Read the state from the URL's hash; missing parts keep the defaults. */
function readStateFromUrl() {
  const q = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromUrl = q.has("f");
  const fn = q.get("f") || DEFAULT_STATE.function;
  const specs = q.getAll("s").length ? q.getAll("s") : DEFAULT_STATE.specs;
  const cards = specs.map(parseSpec).filter(Boolean).slice(0, MAX_CARDS);
  state.cards = cards.length ? cards : DEFAULT_STATE.specs.map(parseSpec);
  const start = (q.get("start") || "").split(",").map(Number);
  state.start = start.length === 2 && start.every(Number.isFinite) ? start : fromUrl ? null : DEFAULT_STATE.start.slice();
  const n = Number(q.get("n"));
  state.steps = Number.isInteger(n) && n >= 1 && n <= MAX_STEPS ? n : DEFAULT_STATE.steps;
  state.noise = Number(q.get("noise")) || 0;
  state.batchSize = q.get("bs") || "full";
  state.seed = Number(q.get("seed")) || 0;
  return fn;
}

// ---------------------------------------------------------------- click to set the start

function wireContourClick() {
  const gd = $("contour");
  gd.on("plotly_click", (event) => {
    const point = clickedPoint(gd, event);
    if (!point) return;
    state.start = point.map((v) => roundSig(v, 3));
    state.scrub = null;
    requestRun();
  });
}

/** The data coordinates under the mouse (exact), or the clicked point where they are not known. */
function clickedPoint(gd, event) {
  const layout = gd._fullLayout;
  const area = gd.querySelector(".nsewdrag");
  if (layout && area && event.event && layout.xaxis.p2c) {
    const box = area.getBoundingClientRect();
    const x = layout.xaxis.p2c(event.event.clientX - box.left);
    const y = layout.yaxis.p2c(event.event.clientY - box.top);
    if (Number.isFinite(x) && Number.isFinite(y)) return [x, y];
  }
  const p = event.points && event.points[0];
  return p && Number.isFinite(p.x) && Number.isFinite(p.y) ? [p.x, p.y] : null;
}

// ---------------------------------------------------------------- start

async function init() {
  try {
    const [functions, optimizers] = await Promise.all([api("/api/functions"), api("/api/optimizers")]);
    catalogue.functions = functions.functions;
    catalogue.optimizers = optimizers.optimizers;
    catalogue.schedules = optimizers.schedules || [];
  } catch (error) {
    setStatus("error", "failed");
    showRunError(`The page could not load its catalogue: ${error.message}`);
    return;
  }
  fillFunctionPicker();
  fillOptimizerPicker();
  wireControls();
  await restoreFromUrl();
  // a link pasted into this tab changes only the hash: the page does not reload
  window.addEventListener("hashchange", () => {
    if (location.hash !== writtenHash) restoreFromUrl();
  });
}

async function restoreFromUrl() {
  const fn = readStateFromUrl();
  state.scrub = null;
  renderCards();
  showRunControls();
  const ok = await setFunction(fn, false);
  if (!ok) {
    $("formula").value = fn;
    await setFunction(DEFAULT_STATE.function, true);
  }
}

init();
