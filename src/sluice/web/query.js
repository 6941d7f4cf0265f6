// The query being built: to Omni's query object, and to/from the URL fragment (so a link
// reproduces it). Filters are typed by their field: string, number, date, boolean.

export function emptyState() {
  return { modelId: "", topic: "", fields: [], grains: {}, filters: [], sorts: [], limit: 500 };
}

// "order_items.created_at" + grain "month" -> "order_items.created_at[month]"
export function fieldRef(name, grain) {
  return grain ? `${name}[${grain}]` : name;
}

export function splitRef(ref) {
  const m = /^(.*?)(?:\[(\w+)\])?$/.exec(ref);
  return { name: m[1], grain: m[2] || "" };
}

export function filterKind(dataType) {
  const t = (dataType || "").toUpperCase();
  if (t === "DATE" || t === "TIMESTAMP") return "date";
  if (t === "NUMBER") return "number";
  if (t === "BOOLEAN") return "boolean";
  return "string";
}

// One UI filter {field, type, op, a, b, negate} -> Omni's filter object.
export function filterObject(f) {
  const negate = !!f.negate;
  if (f.type === "boolean") return { type: "boolean", is_negative: f.op === "false" };
  if (f.type === "number") {
    if (f.op === "BETWEEN") return { type: "number", kind: "BETWEEN", values: [Number(f.a), Number(f.b)], is_negative: negate };
    const inclusive = f.op.endsWith("_OR_EQUAL");
    const kind = f.op.replace("_OR_EQUAL", "");
    const out = { type: "number", kind, values: [Number(f.a)], is_negative: negate };
    if (kind !== "EQUALS") out.is_inclusive = inclusive;
    return out;
  }
  if (f.type === "date") {
    if (f.op === "RELATIVE") {
      // "last N units": N units ago for N units (the current unit counts as one)
      return { type: "date", kind: "TIME_FOR_INTERVAL_DURATION", left_side: `${f.a} ${f.b} ago`, right_side: `${f.a} ${f.b}`, is_negative: negate };
    }
    if (f.op === "BEFORE") return { type: "date", kind: "BEFORE", right_side: f.a, is_negative: negate };
    if (f.op === "ON_OR_AFTER") return { type: "date", kind: "ON_OR_AFTER", left_side: f.a, is_negative: negate };
    return { type: "date", kind: "BETWEEN", left_side: f.a, right_side: f.b, is_negative: negate };
  }
  const values = String(f.a ?? "").split(",").map((v) => v.trim()).filter((v) => v);
  if (f.op === "IS_EMPTY") return { type: "string", kind: "IS_EMPTY", values: [], is_negative: negate };
  return { type: "string", kind: f.op, values, is_negative: negate };
}

export function queryObject(state, topic) {
  const fields = state.fields.map((name) => fieldRef(name, state.grains[name]));
  const filters = {};
  for (const f of state.filters) filters[f.field] = filterObject(f);
  const sorts = state.sorts
    .filter((s) => state.fields.includes(s.field))
    .map((s) => ({ column_name: fieldRef(s.field, state.grains[s.field]), sort_descending: s.desc }));
  const query = {
    modelId: state.modelId,
    join_paths_from_topic_name: state.topic,
    fields,
    limit: Number(state.limit) || 500,
  };
  if (topic && topic.base_view_name) query.table = topic.base_view_name;
  if (Object.keys(filters).length) query.filters = filters;
  if (sorts.length) query.sorts = sorts;
  return query;
}

// A stored query object (history) -> state; filters the UI cannot show stay as they are.
export function stateFromQuery(query) {
  const state = emptyState();
  state.modelId = query.modelId || "";
  state.topic = query.join_paths_from_topic_name || "";
  for (const ref of query.fields || []) {
    const { name, grain } = splitRef(ref);
    state.fields.push(name);
    if (grain) state.grains[name] = grain;
  }
  for (const [field, f] of Object.entries(query.filters || {})) {
    state.filters.push(uiFilter(field, f));
  }
  state.sorts = (query.sorts || []).map((s) => ({ field: splitRef(s.column_name).name, desc: !!s.sort_descending }));
  if (query.limit) state.limit = query.limit;
  return state;
}

function uiFilter(field, f) {
  const out = { field, type: f.type || "string", negate: !!f.is_negative };
  if (f.type === "boolean") return { ...out, op: f.is_negative ? "false" : "true", negate: false };
  if (f.type === "number") {
    const op = f.kind === "EQUALS" || f.kind === "BETWEEN" ? f.kind : `${f.kind}${f.is_inclusive ? "_OR_EQUAL" : ""}`;
    return { ...out, op, a: f.values?.[0] ?? "", b: f.values?.[1] ?? "" };
  }
  if (f.type === "date") {
    if (f.kind === "TIME_FOR_INTERVAL_DURATION") {
      const [n, unit] = String(f.right_side || "").split(" ");
      return { ...out, op: "RELATIVE", a: n, b: unit };
    }
    return { ...out, op: f.kind, a: f.left_side || f.right_side || "", b: f.kind === "BETWEEN" ? f.right_side : "" };
  }
  return { ...out, op: f.kind || "EQUALS", a: (f.values || []).join(", ") };
}

export function toFragment(state) {
  const json = JSON.stringify(state);
  const bytes = new TextEncoder().encode(json);
  let binary = "";
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return `#q=${btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

export function fromFragment(hash) {
  const m = /^#q=([A-Za-z0-9_-]+)$/.exec(hash || "");
  if (!m) return null;
  try {
    const b64 = m[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return { ...emptyState(), ...JSON.parse(new TextDecoder().decode(bytes)) };
  } catch {
    return null;
  }
}
