// The playground: sign in, browse a topic's fields, build and run a query through the public
// API, and see the table, the chart, the SQL and the history. The query lives in the URL
// fragment; the API key lives in this tab's session storage only.

import { Api, ApiError } from "./api.js";
import { chartKinds, drawChart } from "./chart.js";
import { formatCell } from "./format.js";
import { emptyState, fieldRef, filterKind, fromFragment, queryObject, stateFromQuery, toFragment } from "./query.js";

const KEY_STORAGE = "sluice.apiKey";
const $ = (id) => document.getElementById(id);

const ui = {
  api: null,
  state: emptyState(),
  topic: null, // the topic detail
  fields: new Map(), // "view.field" -> field summary (+ view label)
  running: null, // {jobId, timer}
  result: null, // {rows, columns}
  chartKind: null,
  historyCursor: null,
};

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// -- errors ------------------------------------------------------------------------------------

function showError(error, where) {
  const box = $("error");
  const message = error instanceof ApiError ? error.message : String(error.message || error);
  box.replaceChildren(
    h("strong", {}, where ? `${where}: ` : "Error: "),
    h("span", { class: "message" }, message),
  );
  box.hidden = false;
  for (const chip of document.querySelectorAll(".chip")) {
    chip.classList.toggle("culprit", message.includes(chip.dataset.field));
  }
}

function clearError() {
  $("error").hidden = true;
  for (const chip of document.querySelectorAll(".chip.culprit")) chip.classList.remove("culprit");
}

// -- sign in, models, topics -------------------------------------------------------------------

async function connect(key) {
  clearError();
  const api = new Api(key);
  let who;
  try {
    who = await api.whoami();
  } catch (error) {
    ui.api = null;
    sessionStorage.removeItem(KEY_STORAGE);
    $("whoami").textContent = "";
    showError(error, "Sign in");
    setEnabled(false);
    return false;
  }
  ui.api = api;
  sessionStorage.setItem(KEY_STORAGE, key);
  const person = who.user && (who.user.name || who.user.email);
  const scope = who.keyScope === "organization" ? "organization key" : "personal token";
  $("whoami").textContent = `${person ? `${person} · ` : ""}${scope} · ${who.organization.id}`;
  const { records } = await api.models();
  const select = $("model-select");
  select.replaceChildren(...records.map((m) => h("option", { value: m.id }, m.name)));
  select.disabled = false;
  const wanted = ui.state.modelId && records.some((m) => m.id === ui.state.modelId) ? ui.state.modelId : records[0]?.id;
  if (wanted) {
    select.value = wanted;
    await loadModel(wanted, ui.state.topic);
  }
  setEnabled(true);
  return true;
}

function setEnabled(on) {
  for (const id of ["model-select", "topic-select", "run"]) $(id).disabled = !on;
}

// Each pick supersedes the ones before it: an answer arriving after a newer pick is dropped.
let picks = 0;

async function loadModel(modelId, topicName) {
  const pick = ++picks;
  ui.state.modelId = modelId;
  const { topics } = await ui.api.topics(modelId);
  if (pick !== picks) return;
  const visible = topics.filter((t) => !t.hidden);
  const select = $("topic-select");
  select.replaceChildren(...visible.map((t) => h("option", { value: t.name }, t.label || t.name)));
  select.disabled = false;
  const wanted = topicName && visible.some((t) => t.name === topicName) ? topicName : visible[0]?.name;
  if (wanted) {
    select.value = wanted;
    await loadTopic(wanted);
  }
}

async function loadTopic(name) {
  const pick = ++picks;
  const { topic } = await ui.api.topic(ui.state.modelId, name);
  if (pick !== picks) return;
  if (ui.state.topic !== name) {
    Object.assign(ui.state, { topic: name, fields: [], grains: {}, filters: [], sorts: [] });
  }
  ui.topic = topic;
  ui.fields = new Map();
  for (const view of topic.views) {
    for (const f of [...view.dimensions, ...view.measures]) {
      // The catalog's field_name is the short name (Omni's); the page names fields as queries
      // do, view.field.
      f.field_name = f.fully_qualified_name || `${view.name}.${f.field_name}`;
      ui.fields.set(f.field_name, { ...f, viewLabel: view.label || view.name });
    }
  }
  $("topic-description").textContent = topic.description || "";
  // Fields of the state the topic does not have (a stale link) are dropped, visibly.
  const unknown = ui.state.fields.filter((f) => !ui.fields.has(f));
  ui.state.fields = ui.state.fields.filter((f) => ui.fields.has(f));
  if (unknown.length) showError(new Error(`not in topic ${name}: ${unknown.join(", ")}`), "Link");
  renderFields();
  renderQuery();
}

// -- the field browser -------------------------------------------------------------------------

function isTime(f) {
  return Array.isArray(f.timeframes) && f.timeframes.length > 0;
}

function renderFields() {
  const search = $("field-search").value.trim().toLowerCase();
  const box = $("fields");
  box.replaceChildren();
  box.dataset.topic = ui.topic ? ui.topic.name : "";
  for (const view of ui.topic ? ui.topic.views : []) {
    const matches = (f) => !f.hidden && (!search || [f.label, f.field_name, f.description].some((s) => s && s.toLowerCase().includes(search)));
    const dims = view.dimensions.filter(matches);
    const measures = view.measures.filter(matches);
    if (!dims.length && !measures.length) continue;
    const group = h("details", { class: "view", open: true }, h("summary", { title: view.description || "" }, view.label || view.name));
    if (dims.length) group.append(h("div", { class: "kind" }, "Dimensions"), ...dims.map(fieldRow));
    if (measures.length) group.append(h("div", { class: "kind measures" }, "Measures"), ...measures.map(fieldRow));
    box.append(group);
  }
}

function fieldRow(f) {
  const name = f.field_name;
  const selected = ui.state.fields.includes(name);
  const row = h("div", { class: `field ${f.is_dimension ? "dim" : "measure"}${selected ? " selected" : ""}` },
    h("button", {
      type: "button", class: "toggle", "data-testid": `field:${name}`, "aria-pressed": selected ? "true" : "false",
      title: [name, f.description].filter(Boolean).join(" — "),
      onclick: () => toggleField(name),
    }, h("span", { class: "label" }, f.label || name), f.description ? h("span", { class: "desc" }, f.description) : null),
  );
  if (isTime(f)) {
    const grain = ui.state.grains[name] || defaultGrain(f);
    const picker = h("select", {
      "data-testid": `grain:${name}`, "aria-label": `Grain of ${f.label}`,
      onchange: (e) => {
        ui.state.grains[name] = e.target.value;
        if (!ui.state.fields.includes(name)) ui.state.fields.push(name);
        renderFields();
        renderQuery();
      },
    }, ...f.timeframes.map((t) => h("option", { value: t, selected: t === grain }, t.replace(/_/g, " "))));
    row.append(picker);
  }
  return row;
}

function defaultGrain(f) {
  return f.timeframes.includes("month") ? "month" : f.timeframes.find((t) => t !== "raw") || f.timeframes[0];
}

function toggleField(name) {
  const at = ui.state.fields.indexOf(name);
  if (at >= 0) ui.state.fields.splice(at, 1);
  else {
    ui.state.fields.push(name);
    const f = ui.fields.get(name);
    if (f && isTime(f) && !ui.state.grains[name]) ui.state.grains[name] = defaultGrain(f);
  }
  renderFields();
  renderQuery();
}

// -- the query builder -------------------------------------------------------------------------

function label(name) {
  const f = ui.fields.get(name);
  const grain = ui.state.grains[name];
  const base = f ? f.label || name : name;
  return grain && f && isTime(f) ? `${base} (${grain.replace(/_/g, " ")})` : base;
}

function renderQuery() {
  const chips = $("selected");
  chips.replaceChildren();
  if (!ui.state.fields.length) chips.append(h("span", { class: "muted" }, "Pick dimensions and measures on the left."));
  for (const name of ui.state.fields) {
    const f = ui.fields.get(name);
    chips.append(h("span", { class: `chip ${f && !f.is_dimension ? "measure" : "dim"}`, dataset: { field: name } },
      label(name), h("button", { type: "button", "aria-label": `Remove ${name}`, onclick: () => toggleField(name) }, "×")));
  }
  const all = [...ui.fields.values()].filter((f) => !f.hidden);
  const option = (f) => h("option", { value: f.field_name }, `${f.viewLabel} › ${f.label || f.field_name}`);
  $("filter-field").replaceChildren(...all.map(option));
  $("sort-field").replaceChildren(...ui.state.fields.map((n) => h("option", { value: n }, label(n))));
  renderFilters();
  renderSorts();
  $("limit").value = ui.state.limit;
  $("copy-link").disabled = !ui.state.fields.length;
}

const OPS = {
  string: [["EQUALS", "is"], ["CONTAINS", "contains"], ["STARTS_WITH", "starts with"], ["ENDS_WITH", "ends with"], ["IS_EMPTY", "is empty"]],
  number: [["EQUALS", "="], ["GREATER_THAN", ">"], ["GREATER_THAN_OR_EQUAL", "≥"], ["LESS_THAN", "<"], ["LESS_THAN_OR_EQUAL", "≤"], ["BETWEEN", "between"]],
  date: [["RELATIVE", "in the last"], ["BETWEEN", "between"], ["ON_OR_AFTER", "on or after"], ["BEFORE", "before"]],
  boolean: [["true", "is yes"], ["false", "is no"]],
};
const UNITS = ["days", "weeks", "months", "quarters", "years"];

function addFilter(field) {
  const f = ui.fields.get(field);
  const type = filterKind(f ? f.data_type : "STRING");
  const defaults = { string: ["EQUALS", ""], number: ["GREATER_THAN", "0"], date: ["RELATIVE", "12"], boolean: ["true", ""] };
  const [op, a] = defaults[type];
  ui.state.filters = ui.state.filters.filter((x) => x.field !== field);
  ui.state.filters.push({ field, type, op, a, b: type === "date" ? "months" : "", negate: false });
  renderFilters();
}

function renderFilters() {
  const box = $("filters");
  box.replaceChildren();
  for (const filter of ui.state.filters) {
    const id = filter.field;
    const set = (key) => (e) => {
      filter[key] = e.target.type === "checkbox" ? e.target.checked : e.target.value;
      if (key === "op") renderFilters();
    };
    const row = h("div", { class: "filter", "data-testid": `filter:${id}` },
      h("span", { class: "name" }, ui.fields.get(id) ? `${ui.fields.get(id).label}` : id),
      h("select", { "data-testid": `filter-op:${id}`, onchange: set("op") },
        ...OPS[filter.type].map(([v, t]) => h("option", { value: v, selected: v === filter.op }, t))));
    const input = (key, type, extra = {}) => h("input", { type, value: filter[key] ?? "", "data-testid": `filter-${key === "a" ? "value" : "value2"}:${id}`, oninput: set(key), ...extra });
    if (filter.type === "string" && filter.op !== "IS_EMPTY") row.append(input("a", "text", { placeholder: "a, b, c" }));
    if (filter.type === "number") {
      row.append(input("a", "number", { step: "any" }));
      if (filter.op === "BETWEEN") row.append(h("span", {}, "and"), input("b", "number", { step: "any" }));
    }
    if (filter.type === "date") {
      if (filter.op === "RELATIVE") {
        row.append(input("a", "number", { min: 1 }),
          h("select", { "data-testid": `filter-unit:${id}`, onchange: set("b") }, ...UNITS.map((u) => h("option", { value: u, selected: u === filter.b }, u))));
      } else {
        row.append(input("a", "date"));
        if (filter.op === "BETWEEN") row.append(h("span", {}, "and"), input("b", "date"));
      }
    }
    if (filter.type !== "boolean") {
      row.append(h("label", { class: "inline small" }, h("input", { type: "checkbox", checked: filter.negate, onchange: set("negate") }), "not"));
    }
    row.append(h("button", { type: "button", class: "icon", "aria-label": `Remove filter on ${id}`, onclick: () => {
      ui.state.filters = ui.state.filters.filter((x) => x !== filter);
      renderFilters();
    } }, "×"));
    box.append(row);
  }
}

function renderSorts() {
  const box = $("sorts");
  box.replaceChildren();
  ui.state.sorts = ui.state.sorts.filter((s) => ui.state.fields.includes(s.field));
  for (const sort of ui.state.sorts) {
    box.append(h("div", { class: "filter" },
      h("span", { class: "name" }, label(sort.field)),
      h("select", { onchange: (e) => { sort.desc = e.target.value === "desc"; } },
        h("option", { value: "asc", selected: !sort.desc }, "ascending"),
        h("option", { value: "desc", selected: sort.desc }, "descending")),
      h("button", { type: "button", class: "icon", "aria-label": `Remove sort on ${sort.field}`, onclick: () => {
        ui.state.sorts = ui.state.sorts.filter((s) => s !== sort);
        renderSorts();
      } }, "×")));
  }
}

// -- running -----------------------------------------------------------------------------------

function currentQuery() {
  ui.state.limit = Number($("limit").value) || 500;
  return queryObject(ui.state, ui.topic);
}

function saveFragment() {
  const fragment = toFragment(ui.state);
  if (location.hash !== fragment) history.replaceState(null, "", fragment);
}

async function run() {
  if (!ui.api) return;
  clearError();
  if (!ui.state.fields.length) {
    showError(new Error("pick at least one field"), "Query");
    return;
  }
  const query = currentQuery();
  saveFragment();
  const started = performance.now();
  setRunning(true);
  let line;
  try {
    line = await ui.api.run(query, { onJob: (jobId) => watch(jobId) });
  } catch (error) {
    setRunning(false);
    showError(error, "Run");
    return;
  }
  setRunning(false);
  const elapsed = performance.now() - started;
  if (!line) return;
  if (line.status !== "COMPLETE") {
    showError(new Error(line.error_message || `the job ended ${line.status}`), line.error_type ? `${line.error_type} error` : "Job");
    if (line.summary && line.summary.sql) $("sql").textContent = line.summary.sql;
    return;
  }
  showResult(line, elapsed);
}

function setRunning(on) {
  $("run").disabled = on;
  $("cancel").hidden = !on;
  $("progress").hidden = !on;
  if (!on && ui.running) {
    clearInterval(ui.running.timer);
    ui.running = null;
  }
  if (on) setProgress(null);
}

function setProgress(fraction, text) {
  const bar = $("progress");
  bar.classList.toggle("indeterminate", fraction === null || fraction === undefined);
  bar.querySelector(".bar").style.width = fraction === null || fraction === undefined ? "" : `${Math.round(fraction * 100)}%`;
  bar.querySelector(".label").textContent = text || (fraction === null || fraction === undefined ? "running…" : `${Math.round(fraction * 100)}%`);
  if (fraction !== null && fraction !== undefined) bar.dataset.progress = String(fraction);
}

function watch(jobId) {
  if (ui.running) clearInterval(ui.running.timer);
  const poll = async () => {
    try {
      const status = await ui.api.status(jobId);
      if (!ui.running || ui.running.jobId !== jobId) return;
      if (status.status === "QUEUED") setProgress(null, `queued (#${status.queue_position ?? "?"})`);
      else if (status.status === "RUNNING") setProgress(status.progress ?? null);
    } catch {
      /* the job may just have ended */
    }
  };
  ui.running = { jobId, timer: setInterval(poll, 400) };
  poll();
}

async function cancel() {
  const running = ui.running;
  if (!running) return;
  try {
    await ui.api.cancel(running.jobId);
  } catch (error) {
    showError(error, "Cancel");
  }
}

// -- results -----------------------------------------------------------------------------------

function decode(b64) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return window.Arrow.tableFromIPC(bytes);
}

function plain(value) {
  if (typeof value === "bigint") return Number(value);
  if (value && typeof value === "object" && !(value instanceof Date) && typeof value.valueOf === "function") {
    const v = value.valueOf();
    return typeof v === "bigint" ? Number(v) : v;
  }
  return value;
}

// A date truncated to a year or a month reads as one: "2024", "2024-06".
function byGrain(text, name) {
  if (/\[year\]$/.test(name) && /^\d{4}-01-01$/.test(text)) return text.slice(0, 4);
  if (/\[month\]$/.test(name) && /^\d{4}-\d{2}-01$/.test(text)) return text.slice(0, 7);
  return text;
}

function showResult(line, elapsedMs) {
  const summary = line.summary || {};
  const metas = summary.fields || {};
  const table = line.result ? decode(line.result) : null;
  const names = table ? table.schema.fields.map((f) => f.name) : [];
  const columns = names.map((name) => {
    const meta = metas[name] || {};
    const base = name.replace(/\[.*\]$/, "");
    const f = ui.fields.get(base);
    return {
      name, meta, label: meta.label || name, format: meta.format ? meta.format.value : null,
      isDimension: meta.is_dimension !== false,
      isTime: ["DATE", "TIMESTAMP"].includes((meta.data_type || "").toUpperCase()) || !!(f && isTime(f) && /\[(date|week|month|quarter|year|hour|raw)\]$/.test(name)),
    };
  });
  const rows = [];
  const vectors = names.map((n) => table.getChild(n));
  for (let i = 0; i < (table ? table.numRows : 0); i++) {
    const row = { values: {}, text: {}, keys: {} };
    columns.forEach((c, j) => {
      const value = plain(vectors[j].get(i));
      row.values[c.name] = value;
      row.text[c.name] = byGrain(formatCell(value, c.meta), c.name);
      row.keys[c.name] = value instanceof Date ? value.getTime() : value;
    });
    rows.push(row);
  }
  ui.result = { rows, columns };

  const thead = h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { class: c.isDimension ? "" : "num", title: c.name }, c.label))));
  const tbody = h("tbody", {}, ...rows.map((r) => h("tr", {}, ...columns.map((c) => h("td", { class: c.isDimension ? "" : "num", "data-field": c.name }, r.text[c.name])))));
  $("results").replaceChildren(thead, tbody);
  $("row-count").textContent = `${rows.length.toLocaleString()} row${rows.length === 1 ? "" : "s"}`;
  $("sql").textContent = summary.sql || summary.display_sql || "";

  const cache = summary.cache_type || "—";
  const meta = line.cache_metadata || {};
  const stats = [
    ["Job", line.job_id.slice(0, 8)],
    ["Cache", cache],
    ["Rows", (summary.total_rows ?? rows.length).toLocaleString()],
    ["Warehouse", summary.execution_time_ms !== undefined ? `${Number(summary.execution_time_ms).toFixed(1)} ms` : "—"],
    ["Round trip", `${elapsedMs.toFixed(0)} ms`],
    ["Size", meta.result_size_bytes !== undefined ? `${(meta.result_size_bytes / 1024).toFixed(1)} KB` : "—"],
  ];
  $("stats").replaceChildren(...stats.map(([k, v]) => h("div", { class: "stat", "data-testid": `stat:${k.toLowerCase().replace(" ", "-")}` }, h("span", {}, k), h("strong", {}, v))));
  if (summary.missing_fields && summary.missing_fields.length) {
    showError(new Error(`not in the model and left out: ${summary.missing_fields.join(", ")}`), "Fields");
  }
  $("result").hidden = false;
  for (const id of ["download-csv", "download-xlsx"]) $(id).disabled = false;

  const kinds = chartKinds(columns, rows.length);
  ui.chartKind = kinds.includes(ui.chartKind) ? ui.chartKind : kinds[0] || null;
  renderChart(kinds);
}

function renderChart(kinds) {
  const box = $("chart-kinds");
  box.replaceChildren(...kinds.map((k) => h("button", {
    type: "button", class: k === ui.chartKind ? "active" : "", "data-testid": `chart-kind:${k}`,
    onclick: () => { ui.chartKind = k; renderChart(kinds); },
  }, k)));
  const chart = $("chart");
  if (!ui.chartKind) {
    chart.replaceChildren(h("p", { class: "muted" }, "Add a measure to chart it."));
    chart.dataset.kind = "";
    return;
  }
  const { rows, columns } = ui.result;
  drawChart(chart, ui.chartKind, rows, columns, (c, v) => formatCell(v, c.meta));
}

// -- downloads ---------------------------------------------------------------------------------

async function download(resultType) {
  clearError();
  try {
    const blob = await ui.api.document(currentQuery(), resultType);
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `${ui.state.topic || "result"}.${resultType}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    showError(error, `Download ${resultType.toUpperCase()}`);
  }
}

// -- history -----------------------------------------------------------------------------------

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  $("panel-query").hidden = name !== "query";
  $("panel-history").hidden = name !== "history";
  if (name === "history") loadHistory(false);
}

async function loadHistory(more) {
  if (!ui.api) return;
  const list = $("history-list");
  try {
    const page = await ui.api.history({ limit: 25, cursor: more ? ui.historyCursor : undefined });
    if (!more) {
      list.replaceChildren(h("thead", {}, h("tr", {}, ...["When", "Status", "Topic", "Fields", "User", "Duration", "Rows", "Cache", ""].map((t) => h("th", {}, t)))), h("tbody"));
    }
    const body = list.querySelector("tbody");
    for (const r of page.records) {
      const when = new Date(r.createdAt);
      body.append(h("tr", { "data-testid": "history-row", "data-job": r.jobId, class: r.status.toLowerCase() },
        h("td", { title: r.createdAt }, when.toLocaleString()),
        h("td", {}, h("span", { class: `badge ${r.status.toLowerCase()}`, title: r.error ? r.error.message : "" }, r.status)),
        h("td", {}, r.topic || "—"),
        h("td", { class: "fields-cell", title: (r.fields || []).join("\n") }, (r.fields || []).join(", ")),
        h("td", {}, r.userId ? r.userId.slice(0, 8) : "—"),
        h("td", { class: "num" }, r.durationMs !== null ? `${r.durationMs.toFixed(0)} ms` : "—"),
        h("td", { class: "num" }, r.rows ?? "—"),
        h("td", {}, r.cacheType || "—"),
        h("td", {}, h("button", { type: "button", class: "secondary small", "data-testid": "history-open", onclick: () => reopen(r) }, "Open"))));
    }
    ui.historyCursor = page.pageInfo.nextCursor;
    $("history-more").hidden = !page.pageInfo.hasNextPage;
  } catch (error) {
    showTab("query");
    showError(error, "History");
  }
}

async function reopen(record) {
  ui.state = stateFromQuery({ ...record.query, modelId: record.query.modelId || record.modelId });
  showTab("query");
  await applyState();
  saveFragment();
}

async function applyState() {
  const wanted = { ...ui.state };
  $("model-select").value = wanted.modelId;
  ui.state.topic = wanted.topic;
  await loadModel(wanted.modelId, wanted.topic);
  Object.assign(ui.state, { fields: wanted.fields.filter((f) => ui.fields.has(f)), grains: wanted.grains, filters: wanted.filters, sorts: wanted.sorts, limit: wanted.limit });
  renderFields();
  renderQuery();
}

// -- start -------------------------------------------------------------------------------------

async function start() {
  const fromLink = fromFragment(location.hash);
  if (fromLink) ui.state = fromLink;
  $("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return showError(new Error("enter an API key"), "Sign in");
    if (await connect(key)) {
      $("api-key").value = "";
      $("api-key").placeholder = "signed in";
      await openLink(fromLink);
    }
  });
  $("model-select").addEventListener("change", (e) => loadModel(e.target.value));
  $("topic-select").addEventListener("change", (e) => loadTopic(e.target.value));
  $("field-search").addEventListener("input", renderFields);
  $("add-filter").addEventListener("click", () => $("filter-field").value && addFilter($("filter-field").value));
  $("add-sort").addEventListener("click", () => {
    const field = $("sort-field").value;
    if (field && !ui.state.sorts.some((s) => s.field === field)) ui.state.sorts.push({ field, desc: true });
    renderSorts();
  });
  $("limit").addEventListener("change", () => { ui.state.limit = Number($("limit").value) || 500; });
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("copy-link").addEventListener("click", async () => {
    saveFragment();
    try { await navigator.clipboard.writeText(location.href); } catch { /* not allowed: the URL bar has it */ }
  });
  $("download-csv").addEventListener("click", () => download("csv"));
  $("download-xlsx").addEventListener("click", () => download("xlsx"));
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("history-refresh").addEventListener("click", () => loadHistory(false));
  $("history-more").addEventListener("click", () => loadHistory(true));
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") run();
  });
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved && (await connect(saved))) {
    $("api-key").placeholder = "signed in";
    await openLink(fromLink);
  }
}

// A link carries a query: restore it and run it once, so the link shows what it showed.
let linkOpened = false;
async function openLink(fromLink) {
  if (!fromLink || linkOpened) return;
  linkOpened = true;
  await applyState();
  if (ui.state.fields.length) await run();
}

start();
